/**
 * Layer0 for the VMs, built by the layer0 plugin (`layercake layer0 build`) into a boot root of the
 * harness's own and reused while its inputs are unchanged (the build skips an artifact whose inputs
 * have not changed). The command is run rather than its parts imported: it is the one place that
 * gathers the inputs, the head's SSH keys and the cluster settings, and it has no one-call export.
 */
import {execFile} from 'node:child_process';
import {mkdirSync} from 'node:fs';
import {join} from 'node:path';
import {promisify} from 'node:util';
import {VM_ARCH} from './lab.js';

/** The boot root the VMs boot from: `<this>/amd64/{vmlinuz,layer0-*.img}` and the boot script template. */
export const VM_BOOT_ROOT = '/var/cache/layercake/vm-boot';

interface BuildResult {
  kernel: string;
  files: {name: string; size: number; built: boolean}[];
  seconds: number;
}

/** Builds (or finds up to date) Layer0 under `bootRoot` with the CLI at `cliRoot`; returns the boot root. */
export async function layer0BootRoot(cliRoot: string, log: (line: string) => void, bootRoot = VM_BOOT_ROOT): Promise<string> {
  mkdirSync(bootRoot, {recursive: true});
  log(`Layer0: building into ${join(bootRoot, VM_ARCH)} (kept when its inputs are unchanged) ...`);
  // Run from the boot root, so that no layercake config file of the working directory changes what is built.
  const built = await promisify(execFile)(process.execPath, [join(cliRoot, 'bin', 'run.js'), 'layer0', 'build', '--out', bootRoot, '--arch', VM_ARCH, '--json'],
    {cwd: bootRoot, maxBuffer: 16 << 20, timeout: 600_000}).catch((error: {stdout?: string; stderr?: string; message: string}) => {
    let message = error.message;
    try { message = JSON.parse(error.stdout ?? '').error?.message ?? message; } catch { /* not JSON */ }
    throw new Error(`layercake layer0 build failed: ${message}${error.stderr ? `\n${error.stderr.trim()}` : ''}`);
  });
  const result = JSON.parse(built.stdout) as BuildResult;
  const fresh = result.files.filter((f) => f.built).map((f) => f.name);
  log(`Layer0: kernel ${result.kernel}, ${fresh.length ? `built ${fresh.join(', ')}` : 'unchanged'} (${result.seconds.toFixed(1)} s)`);
  return bootRoot;
}
