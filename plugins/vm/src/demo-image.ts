/**
 * The VM demo's Layer1: a small real system that runs on Layer0 as the node's image set. It holds
 * busybox (the shell and tools), dropbear as its sshd on port 22 with the head's public keys authorized
 * for root, and /etc/layercake-image naming the image (`demo:v1`). Its init (/sbin/demo-init) says
 * which image started and becomes dropbear (PID 1 of the container, reaping its sessions).
 *
 * The container shares the node's network (ImageAPI gives it its own mount, PID, IPC and UTS
 * namespaces, not a network one), so its sshd answers on the node's address, port 22; Layer0's own
 * sshd keeps port 2022.
 */
import {promises as fs} from 'node:fs';
import {join} from 'node:path';
import {copyProgram, installBusybox, type Inputs} from '@layercake/plugin-layer0';

/** The demo image's init, as the image set's container command names it. */
export const DEMO_INIT = '/sbin/demo-init';

/** The container command the nodes' image set runs. */
export const DEMO_COMMAND = [DEMO_INIT];

const INIT = `#!/bin/sh
# The demo Layer1's init (PID 1 of its container): says which image started, then becomes its sshd.
# dropbear: -F foreground, -E log to stderr (the container's log), -R host keys made at the first
# connection (in the image's RAM overlay), -s keys only (the head's, in /root/.ssh/authorized_keys).
mkdir -p /etc/dropbear /var/log /tmp
echo "$(cat /etc/layercake-image) started on $(hostname)"
exec /usr/sbin/dropbear -F -E -R -s -p 22
`;

export interface DemoImageOptions {
  /** `demo:v1`: written to /etc/layercake-image. */
  ref: string;
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
    ['etc/layercake-image', `${options.ref}\n`, 0o644],
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
