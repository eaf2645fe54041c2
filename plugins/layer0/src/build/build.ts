/**
 * `layer0 build`: the kernel and the three initrds the boot script names, written to `<root>/<arch>/`.
 *   layer0-base.img    busybox (init, shell, tools), Node.js and its libraries, the agent bundle, dropbear,
 *                      Layer0's init scripts (rootfs/ in this plugin)
 *   layer0-kmod.img    the kernel modules nodes need and their dependencies, with their own modules.dep
 *   layer0-config.img  cluster settings (the agent's config: no secret) and the head's public SSH keys
 * Each artifact records a hash of its inputs in layer0.manifest.json: one whose inputs have not changed
 * (and whose file is intact) is not rebuilt. The same inputs always give the same bytes.
 */
import {createHash} from 'node:crypto';
import {execFileSync} from 'node:child_process';
import {createReadStream, promises as fs} from 'node:fs';
import {basename, dirname, join, relative} from 'node:path';
import {fileURLToPath} from 'node:url';
import {LINUX_MOUNTS_FILE} from '@layercake/plugin-imageapi';
import {packInitrd} from './archive.js';
import {bundleAgent} from './bundle.js';
import type {Inputs, Program} from './inputs.js';
import {moduleClosure, readModuleDb, type Closure} from './kmod.js';

/** Bump when the layout of an artifact changes without its inputs changing. */
const FORMAT = 1;
export const ROOTFS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'rootfs');
export const MANIFEST = 'layer0.manifest.json';
export const ARTIFACTS = ['vmlinuz', 'layer0-base.img', 'layer0-kmod.img', 'layer0-config.img'] as const;
export type ArtifactName = typeof ARTIFACTS[number];

/** Cluster settings the config initrd carries (nothing secret). */
export interface ClusterSettings {
  /** The agent's daemon config (logLevel, sync timers and the parent's sync port, modules.imageset). */
  agent: Record<string, unknown>;
  /** The head's public keys, for root's authorized_keys. */
  authorizedKeys: string;
}

export interface BuildOptions {
  inputs: Inputs;
  /** Kernel modules to carry (names; their dependencies are added). */
  modules: string[];
  /** Where the files go (`<bootroot>/<arch>`). */
  dir: string;
  cluster: ClusterSettings;
  force?: boolean;
  /**
   * The head's `layercake:modules` hook files (absolute paths): the agent plans with their modules, as
   * its parent does. Sync and imageset are always there.
   */
  moduleHooks?: string[];
  /** zstd level for the initrds. */
  level?: number;
}

export interface ArtifactResult {
  name: ArtifactName;
  path: string;
  size: number;
  sha256: string;
  /** false: its inputs had not changed, the file was kept. */
  built: boolean;
}

export interface BuildResult {
  dir: string;
  kernel: string;
  modules: {count: number; builtin: string[]};
  files: ArtifactResult[];
  seconds: number;
}

interface Manifest {
  format: number;
  artifacts: Partial<Record<ArtifactName, {inputs: string; sha256: string; size: number}>>;
}

export interface Step {
  title: string;
  run: () => Promise<string | void>;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** A digest of named parts (file contents by hash, or values), independent of the order they were added in. */
class InputHash {
  private parts = new Map<string, string>();
  async file(label: string, path: string): Promise<void> { this.parts.set(label, await sha256File(path)); }
  value(label: string, value: unknown): void { this.parts.set(label, sha256(JSON.stringify(value))); }
  digest(): string { return sha256(JSON.stringify([FORMAT, ...[...this.parts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))])); }
}

async function readManifest(dir: string): Promise<Manifest> {
  try {
    const m = JSON.parse(await fs.readFile(join(dir, MANIFEST), 'utf8')) as Manifest;
    if (m.format === FORMAT && m.artifacts) return m;
  } catch { /* none yet, or unreadable: build everything */ }
  return {format: FORMAT, artifacts: {}};
}

async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  const tmp = join(dir, `.${MANIFEST}.tmp`);
  await fs.writeFile(tmp, JSON.stringify(manifest, null, 2) + '\n');
  await fs.rename(tmp, join(dir, MANIFEST));
}

/** The artifact on disk is the one the manifest recorded for these inputs. */
async function upToDate(dir: string, name: ArtifactName, inputs: string, manifest: Manifest): Promise<boolean> {
  const m = manifest.artifacts[name];
  if (!m || m.inputs !== inputs) return false;
  try {
    const st = await fs.stat(join(dir, name));
    return st.size === m.size && await sha256File(join(dir, name)) === m.sha256;
  } catch {
    return false;
  }
}

async function copyInto(root: string, source: string, target: string, mode?: number): Promise<void> {
  const dest = join(root, target);
  await fs.mkdir(dirname(dest), {recursive: true});
  await fs.copyFile(source, dest);
  await fs.chmod(dest, mode ?? ((await fs.stat(source)).mode & 0o7777));
}

/** Copies a program into an image root, with the shared libraries it loads (also used for the VM demo's Layer1). */
export async function copyProgram(root: string, program: Program, target: string): Promise<void> {
  await copyInto(root, program.path, target);
  // Libraries go where the loader looks for them (ldd's paths): the content of the file they resolve to.
  for (const lib of program.libs) await copyInto(root, await fs.realpath(lib), lib.replace(/^\/+/, ''), 0o755);
}

/** Copies a directory tree, keeping modes and symlinks. */
async function copyTree(from: string, to: string): Promise<void> {
  for (const e of await fs.readdir(from, {withFileTypes: true})) {
    const src = join(from, e.name);
    const dst = join(to, e.name);
    if (e.isDirectory()) {
      await fs.mkdir(dst, {recursive: true, mode: 0o755});
      await copyTree(src, dst);
    } else if (e.isSymbolicLink()) {
      await fs.symlink(await fs.readlink(src), dst);
    } else {
      await copyInto(to, src, e.name);
    }
  }
}

async function treeFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await fs.readdir(dir, {withFileTypes: true})) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p); else out.push(p);
    }
  };
  await walk(root);
  return out.sort();
}

const BASE_DIRS = ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'usr/lib/layercake', 'lib', 'lib64', 'etc/dropbear', 'etc/layercake',
  'proc', 'sys', 'dev', 'run', 'tmp', 'mnt', 'root', 'var/lib/layercake', 'var/log'];

/** Busybox's applets as symlinks (`busybox --list-full`: bin/sh, sbin/init, ...), and /init for the kernel. */
export async function installBusybox(root: string, busybox: string): Promise<void> {
  await copyInto(root, busybox, 'bin/busybox', 0o755);
  const applets = execFileSync(busybox, ['--list-full'], {encoding: 'utf8'}).split('\n').map((l) => l.trim()).filter(Boolean);
  for (const a of applets) {
    if (a === 'bin/busybox') continue;
    await fs.mkdir(join(root, dirname(a)), {recursive: true});
    await fs.symlink('/bin/busybox', join(root, a)).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'EEXIST') throw e; });
  }
  await fs.symlink('/sbin/init', join(root, 'init'));
}

async function stageBase(root: string, inputs: Inputs, agent: Buffer): Promise<void> {
  for (const d of BASE_DIRS) await fs.mkdir(join(root, d), {recursive: true, mode: 0o755});
  await fs.chmod(join(root, 'root'), 0o700);
  await fs.chmod(join(root, 'tmp'), 0o1777);
  await installBusybox(root, inputs.busybox);
  await copyProgram(root, inputs.node, 'usr/bin/node');
  await copyProgram(root, inputs.dropbear, 'usr/sbin/dropbear');
  for (const tool of inputs.imageTools) {
    const name = basename(tool.path);
    for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin']) await fs.rm(join(root, d, name), {force: true}); // busybox's applet
    await copyProgram(root, tool, `usr/sbin/${name}`);
  }
  await fs.writeFile(join(root, 'usr/lib/layercake/agent.mjs'), agent, {mode: 0o644});
  // The ImageAPI's native addon, beside the bundle: its loader looks there first (imageapi's syscalls.ts).
  await copyProgram(root, inputs.mountsAddon, `usr/lib/layercake/${LINUX_MOUNTS_FILE}`);
  await copyTree(ROOTFS, root);
}

async function stageKmod(root: string, inputs: Inputs, closure: Closure): Promise<void> {
  const {version, modulesDir} = inputs.kernel;
  const dir = join(root, 'lib/modules', version);
  for (const p of closure.paths) await copyInto(dir, join(modulesDir, p), p, 0o644);
  for (const f of ['modules.order', 'modules.builtin', 'modules.builtin.modinfo']) {
    await copyInto(dir, join(modulesDir, f), f, 0o644).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
  }
  // modules.dep, modules.alias (what the init's modalias walk looks up) and the rest, for this subset only
  execFileSync(inputs.tools.depmod, ['-b', root, version], {stdio: ['ignore', 'ignore', 'pipe']});
}

async function stageConfig(root: string, cluster: ClusterSettings): Promise<void> {
  await fs.mkdir(join(root, 'etc/layercake'), {recursive: true, mode: 0o755});
  await fs.writeFile(join(root, 'etc/layercake/agent.json'), JSON.stringify(cluster.agent, null, 2) + '\n', {mode: 0o644});
  await fs.writeFile(join(root, 'etc/hosts'), '127.0.0.1\tlocalhost\n::1\tlocalhost\n', {mode: 0o644});
  await fs.mkdir(join(root, 'root/.ssh'), {recursive: true, mode: 0o700});
  await fs.chmod(join(root, 'root'), 0o700);
  await fs.chmod(join(root, 'root/.ssh'), 0o700);
  await fs.writeFile(join(root, 'root/.ssh/authorized_keys'), cluster.authorizedKeys, {mode: 0o600});
}

/**
 * The steps of a build, to run in order (the command shows them as progress). The result is complete
 * once the last step has run.
 */
export function buildSteps(opts: BuildOptions): {steps: Step[]; result: () => BuildResult; cleanup: () => Promise<void>} {
  const started = Date.now();
  const {inputs, dir} = opts;
  let manifest: Manifest;
  let agent: Buffer;
  let closure: Closure;
  const files: ArtifactResult[] = [];
  let scratch = '';
  let locked = false;

  const artifact = (name: ArtifactName, hash: (h: InputHash) => Promise<void>, make: (out: string) => Promise<void>): Step => ({
    title: name,
    run: async () => {
      const h = new InputHash();
      await hash(h);
      const digest = h.digest();
      const path = join(dir, name);
      const built = opts.force || !await upToDate(dir, name, digest, manifest);
      if (built) {
        await make(path);
        manifest.artifacts[name] = {inputs: digest, sha256: await sha256File(path), size: (await fs.stat(path)).size};
        await writeManifest(dir, manifest); // at once: a later step that fails does not make this one's work lost
      }
      const {sha256: sum, size} = manifest.artifacts[name]!;
      files.push({name, path, size, sha256: sum, built});
      return built ? `${(size / 1e6).toFixed(1)} MB` : 'unchanged, kept';
    },
  });
  const staged = (name: string, stage: (root: string) => Promise<void>) => async (out: string) => {
    const root = join(scratch, name);
    await fs.mkdir(root, {mode: 0o755});
    await stage(root);
    await packInitrd(root, out, {cpio: inputs.tools.cpio, zstd: inputs.tools.zstd, level: opts.level});
  };

  const steps: Step[] = [
    {
      title: 'Bundle the agent and resolve the kernel modules',
      run: async () => {
        await fs.mkdir(dir, {recursive: true});
        await lock(dir);
        locked = true;
        await cleanScratch(dir); // what a build that died left behind
        manifest = await readManifest(dir);
        scratch = await fs.mkdtemp(join(dir, '.build-'));
        agent = await bundleAgent(opts.moduleHooks ?? []);
        closure = moduleClosure(opts.modules, readModuleDb(inputs.kernel.modulesDir));
        if (closure.unknown.length) {
          throw new Error(`kernel ${inputs.kernel.version} has no module named ${closure.unknown.join(', ')} (see ${join(inputs.kernel.modulesDir, 'modules.dep')}; built-in ones need nothing)`);
        }
        return `agent ${(agent.length / 1e6).toFixed(1)} MB, ${closure.paths.length} modules`;
      },
    },
    artifact('vmlinuz', (h) => h.file('kernel', inputs.kernel.image), async (out) => {
      const tmp = `${out}.${process.pid}.tmp`;
      await fs.copyFile(inputs.kernel.image, tmp);
      await fs.chmod(tmp, 0o644);
      await fs.rename(tmp, out);
    }),
    artifact('layer0-base.img', async (h) => {
      h.value('agent', sha256(agent));
      await h.file('busybox', inputs.busybox);
      for (const p of [inputs.node, inputs.dropbear, inputs.mountsAddon, ...inputs.imageTools]) {
        await h.file(p.path, p.path);
        for (const lib of p.libs) await h.file(lib, lib);
      }
      for (const f of await treeFiles(ROOTFS)) {
        await h.file(`rootfs/${relative(ROOTFS, f)}`, f);
        h.value(`mode:${relative(ROOTFS, f)}`, (await fs.stat(f)).mode & 0o7777);
      }
      h.value('level', opts.level ?? 9);
    }, staged('base', (root) => stageBase(root, inputs, agent))),
    artifact('layer0-kmod.img', async (h) => {
      h.value('kernel', inputs.kernel.version);
      for (const p of closure.paths) await h.file(p, join(inputs.kernel.modulesDir, p));
      await h.file('modules.builtin', join(inputs.kernel.modulesDir, 'modules.builtin')).catch(() => undefined);
      h.value('level', opts.level ?? 9);
    }, staged('kmod', (root) => stageKmod(root, inputs, closure))),
    artifact('layer0-config.img', async (h) => {
      h.value('cluster', opts.cluster);
    }, staged('config', (root) => stageConfig(root, opts.cluster))),
  ];
  return {
    steps,
    /** Removes the scratch and the lock (call it after the steps, whether they succeeded or not). */
    async cleanup() {
      if (!locked) return;
      await cleanScratch(dir);
      await fs.rm(join(dir, LOCK), {force: true});
      locked = false;
    },
    result: () => ({
      dir, kernel: inputs.kernel.version, modules: {count: closure.paths.length, builtin: closure.builtin},
      files: ARTIFACTS.map((n) => files.find((f) => f.name === n)!).filter(Boolean), seconds: (Date.now() - started) / 1000,
    }),
  };
}

/** Removes what a build left in `dir` besides its artifacts (scratch trees, half-written files). */
async function cleanScratch(dir: string): Promise<void> {
  for (const e of await fs.readdir(dir).catch(() => [] as string[])) {
    if (e.startsWith('.build-') || e.endsWith('.tmp')) await fs.rm(join(dir, e), {recursive: true, force: true});
  }
}

const LOCK = '.layer0-build.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One build at a time per directory: a lock file holding the builder's pid (a dead builder's lock is taken over). */
async function lock(dir: string): Promise<void> {
  const path = join(dir, LOCK);
  for (;;) {
    try {
      await fs.writeFile(path, `${process.pid}\n`, {flag: 'wx'});
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const pid = Number((await fs.readFile(path, 'utf8').catch(() => '')).trim());
    if (pid && pid !== process.pid && alive(pid)) {
      throw new Error(`another layer0 build (pid ${pid}) is writing ${dir}: wait for it to finish (or remove ${path} if that process is not a build)`);
    }
    await fs.rm(path, {force: true});
  }
}

/** Runs every step (no progress display); the scratch is removed even when a step fails. */
export async function buildLayer0(opts: BuildOptions): Promise<BuildResult> {
  const {steps, result, cleanup} = buildSteps(opts);
  try {
    for (const s of steps) await s.run();
  } finally {
    await cleanup();
  }
  return result();
}
