/**
 * Reproducible initrds: a staging tree packed by GNU cpio (newc, the format the kernel unpacks) with
 * every entry in byte order, owned by root, dated 1970-01-01 and renumbered (`--reproducible`), then
 * compressed by zstd (no timestamps, the same bytes for the same input at any thread count). The Debian
 * 6.1 kernel unpacks zstd initramfs (CONFIG_RD_ZSTD), and zstd -9 is as small as gzip -9 in a tenth of the time.
 */
import {spawn} from 'node:child_process';
import {createWriteStream, promises as fs} from 'node:fs';
import {dirname, join} from 'node:path';
import {pipeline} from 'node:stream/promises';

/** Every path under root ('.'-relative, as cpio wants them), parents before children, in byte order. */
export async function listTree(root: string): Promise<string[]> {
  const out: string[] = ['.'];
  const walk = async (rel: string) => {
    const entries = (await fs.readdir(join(root, rel), {withFileTypes: true})).map((e) => e.name).sort();
    for (const name of entries) {
      const path = `${rel}/${name}`;
      out.push(path);
      const st = await fs.lstat(join(root, path));
      if (st.isDirectory()) await walk(path);
    }
  };
  await walk('.');
  return out;
}

/** Dates every entry (symlinks themselves included) at the epoch, so the archive does not record when it was built. */
async function clearTimes(root: string, paths: string[]): Promise<void> {
  for (const p of paths) await fs.lutimes(join(root, p), 0, 0);
}

export interface PackOptions {
  cpio: string;
  zstd: string;
  /** zstd level (default 9). */
  level?: number;
}

/** Packs the tree at `root` into `out` (written next to it, then renamed: a reader never sees half a file). */
export async function packInitrd(root: string, out: string, opts: PackOptions): Promise<void> {
  const paths = await listTree(root);
  await clearTimes(root, paths);
  const tmp = join(dirname(out), `.${Date.now()}.${process.pid}.tmp`);
  const cpio = spawn(opts.cpio, ['--create', '--format=newc', '--null', '--reproducible', '--owner=0:0', '--quiet'], {cwd: root, stdio: ['pipe', 'pipe', 'pipe']});
  const zstd = spawn(opts.zstd, [`-${opts.level ?? 9}`, '-T0', '-q', '-c'], {stdio: ['pipe', 'pipe', 'pipe']});
  const stderr = (p: typeof cpio) => { let s = ''; p.stderr!.on('data', (d) => { s += d; }); return () => s.trim(); };
  const cpioErr = stderr(cpio);
  const zstdErr = stderr(zstd);
  const exited = (p: typeof cpio, name: string, err: () => string) => new Promise<void>((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${name} failed (exit ${code}): ${err()}`))));
  });
  try {
    await Promise.all([
      exited(cpio, 'cpio', cpioErr), exited(zstd, 'zstd', zstdErr),
      pipeline(cpio.stdout!, zstd.stdin!),
      pipeline(zstd.stdout!, createWriteStream(tmp)),
      new Promise<void>((resolve, reject) => { cpio.stdin!.on('error', reject); cpio.stdin!.end(paths.join('\0') + '\0', resolve); }),
    ]);
    await fs.rename(tmp, out);
  } catch (error) {
    cpio.kill();
    zstd.kill();
    await fs.rm(tmp, {force: true});
    throw error;
  }
}
