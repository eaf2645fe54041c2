/** Waiting on a VM lab's nodes, for the VM tests. */
import type {NodeView} from '@layercake/sdk';
import {cleanConsole, readFrom, type VmLab} from '../../src/index.js';

/** The lab's VM nodes as the daemon sees them. */
export const labViews = async (lab: VmLab): Promise<NodeView[]> => (await lab.api.listNodes()).filter((v) => lab.vmOf(v.dsc.nodename));

/**
 * Waits for the daemon's view of the lab's nodes to satisfy `ok` (events would do; a 500 ms poll is
 * simpler here and as quick). On a timeout the error names each node's state (`describe`) and shows the
 * end of each VM's console.
 */
export async function untilNodes(lab: VmLab, what: string, ok: (views: NodeView[]) => boolean, timeoutMs: number,
  describe = (v: NodeView) => `${v.dsc.nodename} ${v.dsc.physState}/${v.dsc.runState}`): Promise<NodeView[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const vs = await labViews(lab);
    if (ok(vs)) return vs;
    if (Date.now() > deadline) {
      const consoles = lab.vms.map((vm) => `--- ${vm.spec.name} console (end):\n${cleanConsole(readFrom(vm.consoleLog, 0, 1 << 24).text).slice(-2500)}`).join('\n');
      throw new Error(`timed out waiting for ${what}: ${vs.map(describe).join(', ')}\n${consoles}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
