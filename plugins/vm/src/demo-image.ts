/**
 * The VM demo's Layer1: a small real system that runs on Layer0 as the node's image set. It holds
 * busybox (the shell and tools), dropbear as its sshd on port 22 with the head's public keys authorized
 * for root, and /etc/layercake-image naming the image (`demo:v1`, written by `image build`). Its init
 * (/sbin/demo-init) says which image started and becomes dropbear (PID 1 of the container, reaping its
 * sessions).
 *
 * The container shares the node's network (ImageAPI gives it its own mount, PID, IPC and UTS
 * namespaces, not a network one), so its sshd answers on the node's address, port 22; Layer0's own
 * sshd keeps port 2022.
 *
 * demo:v1 and demo:v2 are built from the same directory by `layercake image build` into a catalogue
 * of the VMs' own (VM_IMAGES), and kept while their inputs are unchanged, as Layer0 is.
 */
import {execFile} from 'node:child_process';
import {createHash} from 'node:crypto';
import {existsSync, promises as fs, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {promisify} from 'node:util';
import {Catalogue, httpSource, type CatalogueEntry} from '@layercake/plugin-imageapi';
import {copyProgram, findInputs, headKeys, installBusybox, type Inputs} from '@layercake/plugin-layer0';

/** The catalogue the VM lab serves its nodes' images from (kept across runs, like Layer0's boot root). */
export const VM_IMAGES = '/var/cache/layercake/vm-images';

/** The demo image's versions (the same system; /etc/layercake-image tells them apart). */
export const DEMO_REFS = ['demo:v1', 'demo:v2'] as const;
export type DemoRef = (typeof DEMO_REFS)[number];

/** The demo image's init, as the image set's container command names it. */
export const DEMO_INIT = '/sbin/demo-init';

/** Bump when the demo image's layout changes without its inputs changing. */
const FORMAT = 1;

const INIT = `#!/bin/sh
# The demo Layer1's init (PID 1 of its container): says which image started, then becomes its sshd.
# dropbear: -F foreground, -E log to stderr (the container's log), -R host keys made at the first
# connection (in the image's RAM overlay), -s keys only (the head's, in /root/.ssh/authorized_keys).
mkdir -p /etc/dropbear /var/log /tmp
echo "$(cat /etc/layercake-image) started on $(hostname)"
exec /usr/sbin/dropbear -F -E -R -s -p 22
`;

export interface DemoImageOptions {
  /** authorized_keys text for root (the head's public keys). */
  authorizedKeys: string;
  /** busybox and dropbear (with its libraries), as Layer0's build found them. */
  inputs: Pick<Inputs, 'busybox' | 'dropbear'>;
}

/** Writes the demo Layer1's file tree into `root` (an empty or missing directory). */
export async function stageDemoImage(root: string, options: DemoImageOptions): Promise<void> {
  for (const d of ['etc/dropbear', 'root/.ssh', 'proc', 'sys', 'dev', 'run', 'tmp', 'var/log', 'usr/sbin']) await fs.mkdir(join(root, d), {recursive: true, mode: 0o755});
  await fs.chmod(join(root, 'root'), 0o700);
  await fs.chmod(join(root, 'root/.ssh'), 0o700);
  await fs.chmod(join(root, 'tmp'), 0o1777);
  await installBusybox(root, options.inputs.busybox);
  await copyProgram(root, options.inputs.dropbear, 'usr/sbin/dropbear');
  const files: [string, string, number][] = [
    ['etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n', 0o644],
    ['etc/group', 'root:x:0:\n', 0o644],
    ['etc/shells', '/bin/sh\n', 0o644],
    ['etc/profile', 'export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n', 0o644],
    ['root/.ssh/authorized_keys', options.authorizedKeys, 0o600],
    [DEMO_INIT.slice(1), INIT, 0o755],
  ];
  for (const [path, text, mode] of files) {
    await fs.rm(join(root, path), {force: true}); // busybox's applet links (sbin/…) are replaced, not written through
    await fs.writeFile(join(root, path), text, {mode});
    await fs.chmod(join(root, path), mode);
  }
}

/** A digest of what the demo image is made of: the programs (with their libraries), the keys and the init. */
function inputsDigest(options: DemoImageOptions): string {
  const h = createHash('sha256').update(JSON.stringify([FORMAT, INIT, options.authorizedKeys]));
  for (const file of [options.inputs.busybox, options.inputs.dropbear.path, ...options.inputs.dropbear.libs]) h.update(file).update(readFileSync(file));
  return h.digest('hex');
}

export interface DemoCatalogue {
  dir: string;
  entries: Record<DemoRef, CatalogueEntry>;
}

/**
 * demo:v1 and demo:v2 in the catalogue `dir`, built with `layercake image build DIR --name demo:vN
 * --no-modules` (the CLI at `cliRoot`) unless the catalogue has them from the same inputs. No kernel
 * modules: the demo loads none (Layer0 has loop, squashfs and overlay loaded), and the kernel's whole
 * /lib/modules would add about 70 MB to what every node fetches into RAM.
 */
export async function demoCatalogue(log: (line: string) => void, cliRoot: string, dir = VM_IMAGES): Promise<DemoCatalogue> {
  const {inputs, requirements} = findInputs();
  if (!inputs) throw new Error(`the demo image cannot be built: missing ${requirements.filter((r) => !r.ok).map((r) => `${r.what} (Debian ${r.package})`).join(', ')}`);
  const options = {authorizedKeys: headKeys().authorizedKeys, inputs};
  const digest = inputsDigest(options);
  const stampFile = join(dir, 'vm-demo.inputs');
  const catalogue = new Catalogue(dir);
  const have = (ref: string) => {
    const entry = catalogue.get(ref);
    return entry && existsSync(catalogue.fileOf(entry.sha256)) ? entry : undefined;
  };
  const stamp = existsSync(stampFile) ? readFileSync(stampFile, 'utf8').trim() : '';
  const missing = DEMO_REFS.filter((ref) => stamp !== digest || !have(ref));
  if (missing.length) {
    const stage = mkdtempSync(join(tmpdir(), 'layercake-demo-image-'));
    try {
      await stageDemoImage(stage, options);
      for (const ref of missing) {
        log(`demo image: layercake image build ${stage} --name ${ref} --no-modules (into ${dir}) ...`);
        await promisify(execFile)(process.execPath, [join(cliRoot, 'bin', 'run.js'), 'image', 'build', stage, '--name', ref, '--no-modules', '--force', '--catalogue', dir],
          {timeout: 300_000}).catch((error: Error & {stderr?: string}) => { throw new Error(`image build ${ref} failed: ${(error.stderr || error.message).trim()}`); });
      }
    } finally {
      rmSync(stage, {recursive: true, force: true});
    }
    writeFileSync(stampFile, `${digest}\n`);
  }
  const entries = Object.fromEntries(DEMO_REFS.map((ref) => [ref, have(ref)!])) as Record<DemoRef, CatalogueEntry>;
  log(`demo images: ${DEMO_REFS.map((ref) => `${ref} ${(entries[ref].size / 2 ** 20).toFixed(1)} MiB sha256 ${entries[ref].sha256.slice(0, 12)}`).join(', ')}${missing.length ? '' : ' (unchanged)'}`);
  return {dir, entries};
}

/** The image set that runs `entry` as the nodes' image `base`, fetched from `server` (the lab's pxe HTTP server). */
export function demoImageset(entry: CatalogueEntry, server: string): Record<string, unknown> {
  return {state: 'ACTIVE', images: {base: {source: httpSource(entry, server), container: {command: [DEMO_INIT]}}}};
}
