/**
 * Test fixture: runs the pxe module (through fakeContext) as its own process, so a test can start it
 * inside a network namespace with `ip netns exec`. Input: one JSON argument
 *   {config, stateDir, nodes: [TestNodeInput], register: [ids]}
 * Output: JSON lines on stdout: {"event":"ready", ports...}, {"event":"discover", nodeId, url, value}.
 * Stops on SIGTERM or when stdin closes (so it never outlives its test).
 */
import {fakeContext, testNode, type TestNodeInput} from './context.js';
import {runPxe} from '../../src/module.js';

const arg = JSON.parse(process.argv[2] ?? '{}') as {config: unknown; stateDir: string; nodes: TestNodeInput[]; register: string[]};
const ctx = fakeContext(arg.config, {stateDir: arg.stateDir});
const print = (o: object): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };
for (const n of arg.nodes) ctx.addNode(testNode(n));
const origDiscover = ctx.discover.bind(ctx);
ctx.discover = (nodeId, url, value) => { origDiscover(nodeId, url, value); print({event: 'discover', nodeId, url, value}); };
const servers = await runPxe(ctx);
for (const id of arg.register) {
  await ctx.mutate(id, 'NONEtoWAIT', {'/extensions/pxe/state': ['NONE', 'WAIT']});
  await ctx.mutate(id, 'WAITtoINIT', {'/extensions/pxe/state': ['WAIT', 'INIT'], '/runState': ['UNKNOWN', 'INIT']});
}
print({event: 'ready', dhcp: servers.dhcp?.address.port, tftp: servers.tftp?.address.port, http: servers.http?.address.port});
const stop = async (): Promise<void> => {
  ctx.abort();
  await servers.close();
  if (process.env.LC_SERVE_LOGS) for (const l of ctx.logs) process.stderr.write(`[${l.level}] ${l.msg} ${l.obj ? JSON.stringify(l.obj) : ''}\n`);
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();
