/**
 * Plain-text tables: a header row, columns padded to their widest cell (colour codes do not count), and
 * two spaces between columns. Long cells are not wrapped: operators pipe tables into grep and awk.
 */
import {bold, visibleLength} from './color.js';

export interface Column<R> {
  header: string;
  get(row: R): string;
  /** Right-align (numbers). */
  right?: boolean;
}

export function renderTable<R>(rows: readonly R[], columns: readonly Column<R>[]): string {
  const cells = rows.map((r) => columns.map((c) => c.get(r)));
  const widths = columns.map((c, i) => Math.max(visibleLength(c.header), ...cells.map((row) => visibleLength(row[i]))));
  const pad = (text: string, i: number) => {
    const fill = ' '.repeat(Math.max(0, widths[i] - visibleLength(text)));
    return columns[i].right ? fill + text : text + fill;
  };
  const line = (row: string[]) => row.map((cell, i) => (i === row.length - 1 && !columns[i].right ? cell : pad(cell, i))).join('  ');
  return [line(columns.map((c) => bold(c.header))), ...cells.map(line)].join('\n');
}
