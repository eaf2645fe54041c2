/** The benchmark's nodes: n0001..nNNNN on 10.213.0.0/16 (inside the benchmark's own namespaces). */
export const SERVER_IP = '10.213.0.1';
export const CLIENT_IP = '10.213.0.2';
export const PREFIX = 16;

export interface BenchNode { id: string; nodename: string; mac: string; ip: string }

export function benchNodes(count: number): BenchNode[] {
  return Array.from({length: count}, (_, i) => {
    const hex = (i + 1).toString(16).padStart(4, '0');
    return {
      id: `bbbbbbbb-0000-4000-8000-00000000${hex}`,
      nodename: `n${String(i + 1).padStart(4, '0')}`,
      mac: `02:00:00:00:${hex.slice(0, 2)}:${hex.slice(2)}`,
      ip: `10.213.${1 + Math.floor(i / 250)}.${(i % 250) + 1}`,
    };
  });
}
