/**
 * The plugin's servers for the benchmark, run inside the server namespace: every benchmark node is
 * registered (as NONEtoWAIT would), the TFTP root is given. Prints {"event":"ready"} and then, on
 * stdin's end, {"event":"stats", ...} and exits. BENCH_WARN=1 prints the servers' warnings (failed transfers).
 */
import {bootNodeOf} from '../../plugins/pxe/src/bootnode.js';
import {pxeConfig} from '../../plugins/pxe/src/config.js';
import {PxeServers} from '../../plugins/pxe/src/servers.js';
import {benchNodes, CLIENT_IP, PREFIX, SERVER_IP} from './nodes.js';

const arg = JSON.parse(process.argv[2]!) as {nodes: number; root: string; stateDir: string; tftpPort: number; dhcpPort: number; clientIps?: boolean};
const quiet = {debug() {}, info() {}, warn(...a: unknown[]) { if (process.env.BENCH_WARN) console.error(...a); }, error(...a: unknown[]) { console.error(...a); }};
let booted = 0;
let transfersOk = 0, transfersFailed = 0, retransmits = 0;
const servers = new PxeServers({
  config: pxeConfig({serverIp: SERVER_IP, dhcp: {port: arg.dhcpPort}, tftp: {port: arg.tftpPort, root: arg.root}, http: {enabled: false}}),
  stateDir: arg.stateDir,
  log: quiet as never,
  onBooted: () => { booted++; },
  onTransfer: (e) => { if (e.ok) transfersOk++; else transfersFailed++; retransmits += e.retransmits; },
});
// The client namespace's own address too (atftp cannot choose its source address).
for (const n of [...benchNodes(arg.nodes), {id: 'bbbbbbbb-0000-4000-8000-0000000fffff', nodename: 'client', mac: '02:00:00:0f:ff:ff', ip: CLIENT_IP}]) {
  servers.registry.register(bootNodeOf({
    id: n.id, nodename: n.nodename, parentId: '', arch: 'amd64', platform: 'bench', physState: 'POWER_ON', runState: 'UNKNOWN', busy: 'FREE',
    extensions: {ipv4: {iface: 'eth0', mac: n.mac, ip: n.ip, prefix: PREFIX, gateway: SERVER_IP, dns: [SERVER_IP], domain: 'bench.test'}, pxe: {method: 'ipxe'}},
    services: {},
  }));
}
await servers.start();
process.stdout.write(`${JSON.stringify({event: 'ready'})}\n`);
process.stdin.on('end', async () => {
  process.stdout.write(`${JSON.stringify({event: 'stats', booted, transfersOk, transfersFailed, retransmits, dhcp: servers.dhcp?.stats})}\n`);
  await servers.close();
  process.exit(0);
});
process.stdin.resume();
