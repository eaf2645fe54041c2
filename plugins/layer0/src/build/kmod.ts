/**
 * The kernel modules Layer0 carries: the requested ones and everything they need, read from the
 * kernel's own modules.dep (hard dependencies) and modules.softdep (pre/post soft dependencies, which
 * modprobe loads too), as `modprobe --show-depends` would resolve them. Built-in modules need nothing.
 */
import {readFileSync} from 'node:fs';
import {basename, join} from 'node:path';

/**
 * What every node needs: NICs (virtio, Intel e1000/e1000e/igb/ixgbe, Mellanox ConnectX), and what
 * ImageAPI mounts images with (loop, squashfs, overlay, nbd). virtio_pci makes virtio devices appear
 * at all; button and evdev deliver the ACPI power button to acpid.
 */
export const DEFAULT_MODULES = ['virtio_net', 'virtio_pci', 'e1000', 'e1000e', 'igb', 'ixgbe', 'mlx5_core', 'loop', 'squashfs', 'overlay', 'nbd', 'button', 'evdev'];

/** modprobe treats - and _ in module names alike. */
export const moduleName = (s: string): string => basename(s).replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');

export interface ModuleDb {
  /** name -> path relative to the modules directory, and the names it depends on. */
  modules: Map<string, {path: string; deps: string[]}>;
  softdeps: Map<string, string[]>;
  builtin: Set<string>;
}

export function parseModulesDep(text: string): ModuleDb['modules'] {
  const modules: ModuleDb['modules'] = new Map();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const path = line.slice(0, colon).trim();
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter(Boolean).map(moduleName);
    modules.set(moduleName(path), {path, deps});
  }
  return modules;
}

/** `softdep NAME pre: A B post: C` lines: every module named is loaded along with NAME. */
export function parseSoftdeps(text: string): ModuleDb['softdeps'] {
  const softdeps: ModuleDb['softdeps'] = new Map();
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] !== 'softdep' || !words[1]) continue;
    const names = words.slice(2).filter((w) => w !== 'pre:' && w !== 'post:').map(moduleName);
    softdeps.set(moduleName(words[1]), [...(softdeps.get(moduleName(words[1])) ?? []), ...names]);
  }
  return softdeps;
}

export function readModuleDb(modulesDir: string): ModuleDb {
  const read = (name: string) => {
    try { return readFileSync(join(modulesDir, name), 'utf8'); } catch { return ''; }
  };
  const dep = read('modules.dep');
  if (!dep) throw new Error(`${join(modulesDir, 'modules.dep')} is missing or empty (run depmod for that kernel)`);
  return {
    modules: parseModulesDep(dep),
    softdeps: parseSoftdeps(read('modules.softdep')),
    builtin: new Set(read('modules.builtin').split('\n').filter(Boolean).map(moduleName)),
  };
}

export interface Closure {
  /** Paths (relative to the modules directory) of every module to carry, sorted. */
  paths: string[];
  /** Requested names that are built into the kernel (nothing to carry). */
  builtin: string[];
  /** Requested names this kernel does not have. */
  unknown: string[];
}

/** The requested modules and everything they load, as modprobe would. */
export function moduleClosure(requested: readonly string[], db: ModuleDb): Closure {
  const seen = new Set<string>();
  const builtin: string[] = [];
  const unknown: string[] = [];
  const visit = (name: string, wanted: boolean) => {
    if (seen.has(name)) return;
    seen.add(name);
    const m = db.modules.get(name);
    if (!m) {
      if (db.builtin.has(name)) { if (wanted) builtin.push(name); } else if (wanted) unknown.push(name);
      return;
    }
    for (const d of m.deps) visit(d, false);
    for (const d of db.softdeps.get(name) ?? []) visit(d, false);
  };
  for (const r of requested) visit(moduleName(r), true);
  const paths = [...seen].map((n) => db.modules.get(n)?.path).filter((p): p is string => Boolean(p)).sort();
  return {paths, builtin: builtin.sort(), unknown: unknown.sort()};
}
