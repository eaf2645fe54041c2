/**
 * What /proc says about processes and mounts: a process's start time (to tell a live process from a
 * recycled pid), its children, the mount table and the boot id (to tell a restart from a reboot).
 */
import {readFileSync} from 'node:fs';

/** Field 22 of /proc/<pid>/stat (clock ticks since boot), or undefined if there is no such process. */
export function startTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); start time is field 22.
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

/** Whether `pid` is still the process that started at `start` (not a zombie, not a recycled pid). */
export function sameProcess(pid: number | null | undefined, start: number | null | undefined): boolean {
  if (!pid || start === undefined || start === null) return false;
  return startTime(pid) === start;
}

export function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Decodes the octal escapes of /proc/self/mountinfo (`\040` for a space). */
const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The mount points of this mount namespace. */
export function mountPoints(): Set<string> {
  const out = new Set<string>();
  try {
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const f = line.split(' ');
      if (f.length > 4) out.add(unescapeMount(f[4]));
    }
  } catch {
    // no /proc: nothing is known to be mounted
  }
  return out;
}

export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}
