/**
 * Layer0 for the VMs, built by the layer0 plugin into a boot root of the harness's own and kept while
 * its inputs are unchanged (the build skips an artifact whose inputs have not changed), with the same
 * inputs, kernel modules, keys and agent (planning with the head CLI's engine modules) as
 * `layercake layer0 build`.
 */
import {join} from 'node:path';
import {agentSettings, buildLayer0, cliModuleHooks, DEFAULT_MODULES, findInputs, headKeys} from '@layercake/plugin-layer0';
import {VM_ARCH} from './lab.js';

/** The boot root the VMs boot from: `<this>/amd64/{vmlinuz,layer0-*.img}` and the boot script template. */
export const VM_BOOT_ROOT = '/var/cache/layercake/vm-boot';

/**
 * Builds (or finds up to date) Layer0 under `bootRoot`; returns the boot root. `cliRoot` is the layercake
 * CLI the lab's daemon runs: its agents plan with the same modules (without ipmi, a SYNC VM's agent never
 * stands its node down for `power off`).
 */
export async function layer0BootRoot(log: (line: string) => void, cliRoot: string, bootRoot = VM_BOOT_ROOT): Promise<string> {
  const found = findInputs();
  const missing = found.requirements.filter((r) => !r.ok);
  if (!found.inputs || missing.length) {
    throw new Error(`Layer0 cannot be built: missing ${missing.map((r) => `${r.what} (Debian ${r.package})`).join(', ')}; install with: apt-get install ${[...new Set(missing.map((r) => r.package))].join(' ')}`);
  }
  const keys = headKeys(); // the head's ~/.ssh key pair (generated when there is none): ssh -p 2022 into a VM
  if (keys.generated) log(`Generated the head's SSH key pair ${keys.generated} (the VMs' sshd on port 2022 accepts it).`);
  log(`Layer0: building into ${join(bootRoot, VM_ARCH)} (kept when its inputs are unchanged) ...`);
  // The lab's daemon listens for sync on the default port, so the agents' defaults are the cluster settings.
  const result = await buildLayer0({inputs: found.inputs, modules: DEFAULT_MODULES, dir: join(bootRoot, VM_ARCH), moduleHooks: await cliModuleHooks(cliRoot),
    cluster: {agent: agentSettings({}), authorizedKeys: keys.authorizedKeys}});
  const fresh = result.files.filter((f) => f.built).map((f) => f.name);
  log(`Layer0: kernel ${result.kernel}, ${fresh.length ? `built ${fresh.join(', ')}` : 'unchanged'} (${result.seconds.toFixed(1)} s)`);
  return bootRoot;
}
