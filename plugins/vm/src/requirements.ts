/**
 * What the VM harness needs on the host, each with the Debian package that brings it, so that a
 * missing piece is named up front instead of failing half-way through a boot.
 */
import {existsSync} from 'node:fs';
import {spawnSync} from 'node:child_process';

export interface Missing {
  what: string;
  /** The Debian package that brings it ('' when it is not a package, e.g. root). */
  package: string;
}

/** The stock iPXE option ROMs of Debian's ipxe-qemu (qemu finds them on its firmware path). */
export const IPXE_ROM_DIR = '/usr/lib/ipxe/qemu';
/**
 * The VMs' network card. qemu loads its stock iPXE ROM by itself (naming it with romfile= loads nothing
 * on Debian's qemu 7.2: the machine then finds no network boot device).
 */
export const NIC = {device: 'virtio-net-pci', roms: ['efi-virtio.rom', 'pxe-virtio.rom']} as const;

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], {stdio: 'ignore'}).status === 0;
}

/** Everything `demo --vms`, the boot test and bench/boot need that this host lacks (empty: all there). */
export function missingForVms(): Missing[] {
  const missing: Missing[] = [];
  if (process.getuid?.() !== 0) missing.push({what: 'root (network namespaces, bridges and taps need it)', package: ''});
  const tools: [string, string][] = [
    ['qemu-system-x86_64', 'qemu-system-x86'], ['ipmi_sim', 'openipmi'], ['ipmitool', 'ipmitool'], ['ip', 'iproute2'],
  ];
  for (const [cmd, pkg] of tools) if (!hasCommand(cmd)) missing.push({what: cmd, package: pkg});
  if (!NIC.roms.some((rom) => existsSync(`${IPXE_ROM_DIR}/${rom}`))) missing.push({what: `the stock iPXE ROM ${IPXE_ROM_DIR}/${NIC.roms[0]}`, package: 'ipxe-qemu'});
  return missing;
}

/** One sentence naming what is missing and how to get it, or undefined when nothing is. */
export function describeMissing(missing: Missing[]): string | undefined {
  if (!missing.length) return undefined;
  const packages = [...new Set(missing.map((m) => m.package).filter(Boolean))];
  const install = packages.length ? `; install with: apt-get install ${packages.join(' ')}` : '';
  return `missing: ${missing.map((m) => (m.package ? `${m.what} (Debian ${m.package})` : m.what)).join(', ')}${install}`;
}
