/** Layer0 for the VMs: built by the layer0 plugin into a boot root of the harness's own, reused when up to date. */
import {join} from 'node:path';
import {VM_ARCH} from './lab.js';

/** The boot root the VMs boot from: `<this>/amd64/{vmlinuz,layer0-*.img}` and the boot script template. */
export const VM_BOOT_ROOT = '/var/cache/layercake/vm-boot';

export async function layer0BootRoot(log: (line: string) => void, bootRoot = VM_BOOT_ROOT): Promise<string> {
  const name = '@layercake/plugin-layer0';
  let plugin: {buildLayer0?: (o: Record<string, unknown>) => Promise<unknown>};
  try {
    plugin = await import(name);
  } catch {
    throw new Error('the layer0 plugin (@layercake/plugin-layer0) is not installed: build Layer0 elsewhere and pass --boot-root DIR');
  }
  log(`Layer0: building into ${join(bootRoot, VM_ARCH)} (skipped when its inputs are unchanged) ...`);
  await plugin.buildLayer0!({out: join(bootRoot, VM_ARCH)});
  return bootRoot;
}
