/**
 * Whether a KVM guest really runs here. /dev/kvm existing is not enough: on some hosts (nested
 * virtualisation without the features a guest needs) a KVM guest spins in the host kernel and never
 * prints a line. So a tiny guest boots a kernel with -accel kvm and must reach its first console line
 * within a few seconds; the verdict is kept for this boot of the host (keyed by boot id and qemu binary).
 */
import {spawn} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';

export interface KvmVerdict {
  usable: boolean;
  /** Why (shown to operators: "KVM: no (a KVM guest printed nothing in 6 s); running on TCG"). */
  reason: string;
  /** The key the verdict holds for (host boot and qemu binary). */
  key: string;
}

const QEMU = 'qemu-system-x86_64';

function cacheKey(): string {
  const boot = existsSync('/proc/sys/kernel/random/boot_id') ? readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() : 'unknown';
  const qemu = ['/usr/bin', '/usr/local/bin'].map((d) => join(d, QEMU)).find(existsSync);
  return `${boot}:${qemu ?? QEMU}:${qemu ? statSync(qemu).mtimeMs : 0}`;
}

export function defaultKvmCache(): string {
  return process.getuid?.() === 0 ? '/run/layercake/kvm-probe.json' : join(tmpdir(), `layercake-kvm-probe-${process.getuid?.() ?? 0}.json`);
}

/** Boots `kernel` under KVM until its first console line, within `timeoutMs`. */
async function probe(kernel: string, timeoutMs: number): Promise<{usable: boolean; reason: string}> {
  if (!existsSync('/dev/kvm')) return {usable: false, reason: '/dev/kvm does not exist'};
  const dir = mkdtempSync(join(tmpdir(), 'layercake-kvm-probe-'));
  const log = join(dir, 'console.log');
  try {
    const started = Date.now();
    const vm = spawn(QEMU, ['-accel', 'kvm', '-cpu', 'host', '-m', '128', '-display', 'none', '-nodefaults', '-no-reboot',
      '-serial', `file:${log}`, '-kernel', kernel, '-append', 'console=ttyS0 panic=-1'], {stdio: ['ignore', 'ignore', 'pipe']});
    let stderr = '';
    vm.stderr!.on('data', (d) => { stderr += d; });
    const exited = new Promise<void>((r) => vm.once('exit', () => r()));
    for (;;) {
      const printed = existsSync(log) && readFileSync(log, 'utf8').includes('Linux version');
      if (printed) {
        vm.kill('SIGKILL');
        await exited;
        return {usable: true, reason: `a KVM guest printed its first line after ${Date.now() - started} ms`};
      }
      if (vm.exitCode !== null || vm.signalCode !== null) return {usable: false, reason: `qemu -accel kvm failed: ${stderr.trim().split('\n').pop()}`};
      if (Date.now() - started > timeoutMs) {
        vm.kill('SIGKILL');
        await exited;
        return {usable: false, reason: `a KVM guest printed nothing in ${timeoutMs / 1000} s (it spins)`};
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
}

/** The cached verdict for this host boot, else a fresh probe (kept in `cacheFile`). */
export async function kvmVerdict(kernel: string, options: {cacheFile?: string; timeoutMs?: number} = {}): Promise<KvmVerdict> {
  const cacheFile = options.cacheFile ?? defaultKvmCache();
  const key = cacheKey();
  try {
    const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as KvmVerdict;
    if (cached.key === key) return cached;
  } catch { /* no verdict yet */ }
  const verdict = {...await probe(kernel, options.timeoutMs ?? 6000), key};
  try {
    mkdirSync(dirname(cacheFile), {recursive: true});
    writeFileSync(cacheFile, `${JSON.stringify(verdict)}\n`);
  } catch { /* an unwritable cache only costs a probe next time */ }
  return verdict;
}
