// A real firmware client: qemu-system-x86_64 (no KVM needed) with the stock iPXE option ROM of Debian's
// ipxe-qemu, booting from the network (-boot n) over a tap device in a namespace this test creates.
// Two VMs at once: one boots the default way (iPXE → its script over HTTP), the other the classic way
// (method pxe: a boot file over TFTP, here an iPXE script). Success is read from the VMs' serial output.
import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {has, Netns, netnsUnavailable, startServer, type ServerProcess} from './support/netns.js';
import {until, type TestNodeInput} from './support/context.js';

const ROMS = ['/usr/lib/ipxe/qemu/pxe-e1000.rom', '/usr/share/qemu/pxe-e1000.rom'];
const why = !has('qemu-system-x86_64') ? 'qemu-system-x86_64 is not installed (Debian qemu-system-x86)'
  : !ROMS.some(existsSync) ? 'the iPXE ROM for e1000 is missing (Debian ipxe-qemu)'
  : netnsUnavailable();

if (why) {
  console.log(`SKIP: ${why}`);
  test.skip('qemu iPXE boot');
  test.run();
} else {
  const id = process.pid % 100000;
  const SERVER_IP = '10.214.0.1';
  const VM1: TestNodeInput = {id: 'eeeeeeee-0000-4000-8000-000000000201', nodename: 'vm1', mac: '52:54:00:00:02:01', ip: '10.214.0.11'};
  const VM2: TestNodeInput = {id: 'eeeeeeee-0000-4000-8000-000000000202', nodename: 'vm2', mac: '52:54:00:00:02:02', ip: '10.214.0.12',
    pxe: {method: 'pxe', bootfile: 'boot.ipxe'}};
  let ns: Netns, server: ServerProcess, dir: string;
  const br = `lcqbr${id}`;

  test.before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lc-pxe-qemu-'));
    const root = join(dir, 'pxe', 'tftp');
    mkdirSync(root, {recursive: true});
    // The script echoes the kernel command line contract it would pass, then stops the VM.
    writeFileSync(join(root, 'boot.ipxe.tpl'), '#!ipxe\necho LCBOOT {{.Nodename}} layercake.id={{.ID}} layercake.parent={{.ParentIP}} ip={{.IP}}/{{.CIDR}}\nexit 1\n');
    ns = Netns.create(`lcpxq${id}`);
    ns.ip('link', 'add', br, 'type', 'bridge');
    ns.ip('addr', 'add', `${SERVER_IP}/24`, 'dev', br);
    ns.ip('link', 'set', br, 'up');
    for (const n of [1, 2]) {
      ns.ip('tuntap', 'add', 'dev', `lcqt${n}`, 'mode', 'tap');
      ns.ip('link', 'set', `lcqt${n}`, 'master', br);
      ns.ip('link', 'set', `lcqt${n}`, 'up');
    }
    server = await startServer(ns, {stateDir: dir, nodes: [VM1, VM2], register: [VM1.id, VM2.id], config: {serverIp: SERVER_IP, interface: br}});
  });

  test.after(async () => {
    await server?.stop().catch(() => undefined);
    ns?.delete(); // kills the VMs still running in it
    if (dir) rmSync(dir, {recursive: true, force: true});
  });

  function boot(tap: string, mac: string): {output: () => string; stop: () => void; exited: Promise<void>} {
    const vm = ns.spawn('qemu-system-x86_64', ['-nographic', '-monitor', 'none', '-boot', 'n', '-m', '64', '-no-reboot',
      '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`, '-device', `e1000,netdev=n0,mac=${mac}`]);
    let out = '';
    vm.stdout!.on('data', (d) => { out += d; });
    vm.stderr!.on('data', (d) => { out += d; });
    const exited = new Promise<void>((r) => vm.once('exit', () => r()));
    return {output: () => out.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g'), '').replace(/\r/g, ''), stop: () => vm.kill('SIGKILL'), exited};
  }

  test('the stock iPXE ROM gets its lease and runs the script served by the plugin (HTTP and TFTP)', async () => {
    const started = Date.now();
    const vm1 = boot('lcqt1', VM1.mac);
    const vm2 = boot('lcqt2', VM2.mac);
    try {
      const marker = (n: TestNodeInput) => `LCBOOT ${n.nodename} layercake.id=${n.id} layercake.parent=${SERVER_IP} ip=${n.ip}/24`;
      const flat = (s: string) => s.replace(/\n/g, '');
      await until(() => flat(vm1.output()).includes(marker(VM1)) && flat(vm2.output()).includes(marker(VM2)), 'both VMs to run their script', 80_000, 200)
        .catch((e: Error) => { throw new Error(`${e.message}\n--- vm1:\n${vm1.output().slice(-1500)}\n--- vm2:\n${vm2.output().slice(-1500)}`); });
      const o1 = vm1.output(), o2 = vm2.output();
      assert.match(o1, `net0: ${VM1.ip}/255.255.255.0`);
      assert.match(o1, `http://${SERVER_IP}:8069/boot.ipxe`);
      assert.match(o2, `net0: ${VM2.ip}/255.255.255.0`);
      assert.match(o2, /Filename: boot\.ipxe/);
      for (const n of [VM1, VM2]) {
        assert.ok(server.events.some((e) => e.nodeId === n.id && e.url === '/extensions/pxe/state' && e.value === 'INIT'), `${n.nodename} INIT discovered`);
      }
      console.log(`# qemu: both VMs ran their boot scripts in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      vm1.stop();
      vm2.stop();
      await Promise.all([vm1.exited, vm2.exited]);
    }
  });

  test.run();
}
