// Real clients against the pxe servers, in two network namespaces this test creates and removes:
// busybox udhcpc (DHCP), curl, tftp-hpa and atftp (TFTP, a 50 MB file with and without blksize and
// windowsize), curl over HTTP. The server runs as its own process inside the server namespace, on the
// standard ports 67/69.
import {createHash, randomBytes} from 'node:crypto';
import {createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {has, Netns, netnsUnavailable, startServer, veth, type ServerProcess} from './support/netns.js';
import {until, type TestNodeInput} from './support/context.js';

const why = netnsUnavailable() ?? (['busybox', 'curl', 'tftp'].filter((c) => !has(c)).map((c) => `${c} is not installed`)[0]);
if (why) {
  console.log(`SKIP: ${why}`);
  test.skip('real DHCP, TFTP and HTTP clients in network namespaces');
  test.run();
} else {
  const id = process.pid % 100000;
  const SERVER_IP = '10.213.0.1';
  const N1: TestNodeInput = {id: 'dddddddd-0000-4000-8000-000000000101', nodename: 'n101', mac: '02:00:00:00:01:01', ip: '10.213.0.11',
    gateway: '10.213.0.1', dns: ['10.213.0.53'], domain: 'cluster.test'};
  const N2: TestNodeInput = {id: 'dddddddd-0000-4000-8000-000000000102', nodename: 'n102', mac: '02:00:00:00:01:02', ip: '10.213.0.12'};
  const UNKNOWN = '02:00:00:00:01:99';
  const SIZE = Number(process.env.LC_PXE_TEST_MB ?? 50) * 1024 * 1024;

  let sns: Netns, cns: Netns, server: ServerProcess, dir: string;
  const cif = `lcc${id}`, sif = `lcs${id}`;
  let bigSha = '';

  const sha256File = (path: string): Promise<string> => new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (d) => h.update(d)).on('end', () => resolve(h.digest('hex'))).on('error', reject);
  });

  test.before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lc-pxe-ns-'));
    const root = join(dir, 'pxe', 'tftp');
    mkdirSync(join(root, 'amd64', 'sim'), {recursive: true});
    const big = randomBytes(SIZE);
    bigSha = createHash('sha256').update(big).digest('hex');
    writeFileSync(join(root, 'amd64', 'sim', 'big.bin'), big);
    writeFileSync(join(root, 'amd64', 'sim', 'boot.ipxe.tpl'), '#!ipxe\necho layercake.id={{.ID}} layercake.parent={{.ParentIP}} ip={{.IP}}/{{.CIDR}}\n');
    writeFileSync(join(dir, 'udhcpc.sh'), '#!/bin/sh\n[ "$1" = bound ] && echo "BOUND ip=$ip subnet=$subnet router=$router dns=$dns hostname=$hostname domain=$domain lease=$lease serverid=$serverid siaddr=$siaddr boot_file=$boot_file tftp=$tftp bootfile=$bootfile"\nexit 0\n');
    chmodSync(join(dir, 'udhcpc.sh'), 0o755);
    sns = Netns.create(`lcpxs${id}`);
    cns = Netns.create(`lcpxc${id}`);
    veth(sns, sif, cns, cif);
    sns.ip('addr', 'add', `${SERVER_IP}/24`, 'dev', sif);
    server = await startServer(sns, {
      stateDir: dir, nodes: [N1, N2], register: [N1.id],
      config: {serverIp: SERVER_IP, interface: sif, dhcp: {leaseTime: 3600}},
    });
  });

  test.after(async () => {
    await server?.stop().catch(() => undefined);
    cns?.delete();
    sns?.delete();
    if (dir) rmSync(dir, {recursive: true, force: true});
  });

  const setMac = (mac: string): void => {
    cns.ip('link', 'set', cif, 'down');
    cns.ip('link', 'set', cif, 'address', mac);
    cns.ip('link', 'set', cif, 'up');
  };
  const udhcpc = () => cns.exec('busybox', ['udhcpc', '-i', cif, '-f', '-q', '-n', '-t', '3', '-T', '1', '-A', '1',
    '-s', join(dir, 'udhcpc.sh'), '-O', 'hostname', '-O', 'domain', '-O', 'tftp', '-O', 'bootfile'], {timeout: 20_000});

  test('udhcpc gets exactly the configured address and options; the ACK discovers INIT', async () => {
    setMac(N1.mac);
    const r = udhcpc();
    const line = r.stdout.split('\n').find((l) => l.startsWith('BOUND'));
    assert.ok(line, `udhcpc bound (status ${r.status}): ${r.stdout} ${r.stderr}`);
    const kv = Object.fromEntries(line!.slice(6).split(' ').map((p) => p.split('=') as [string, string]));
    assert.is(kv.ip, N1.ip);
    assert.is(kv.subnet, '255.255.255.0');
    assert.is(kv.router, '10.213.0.1');
    assert.is(kv.dns, '10.213.0.53');
    assert.is(kv.hostname, 'n101');
    assert.is(kv.domain, 'cluster.test');
    assert.is(kv.lease, '3600');
    assert.is(kv.serverid, SERVER_IP);
    assert.is(kv.siaddr, SERVER_IP);
    assert.is(kv.boot_file, 'undionly.kpxe');
    assert.is(kv.tftp, SERVER_IP);
    assert.is(kv.bootfile, 'undionly.kpxe');
    await until(() => server.events.some((e) => e.event === 'discover' && e.nodeId === N1.id && e.url === '/extensions/pxe/state' && e.value === 'INIT'), 'INIT discovered');
    assert.ok(server.events.some((e) => e.event === 'discover' && e.nodeId === N1.id && e.url === '/runState' && e.value === 'INIT'));
  });

  test('an unknown MAC, and a known node that is not booting, get no answer', () => {
    for (const mac of [UNKNOWN, N2.mac]) {
      setMac(mac);
      const r = udhcpc();
      assert.is.not(r.status, 0, `${mac} must not get a lease`);
      assert.not.ok(r.stdout.includes('BOUND'), r.stdout);
    }
    setMac(N1.mac);
  });

  const fetchWith = (label: string, cmd: string, args: string[], out: string) => {
    const started = Date.now();
    const r = cns.exec(cmd, args, {timeout: 120_000});
    assert.is(r.status, 0, `${label}: ${r.stderr}`);
    return {out, ms: Date.now() - started};
  };

  test('curl, tftp-hpa and atftp fetch 50 MB with and without blksize/windowsize; checksums equal', async () => {
    cns.ip('addr', 'add', `${N1.ip}/24`, 'dev', cif);
    const url = `tftp://${SERVER_IP}/big.bin`;
    const runs = [
      fetchWith('curl (512)', 'curl', ['-sS', '-o', join(dir, 'c1'), url], join(dir, 'c1')),
      fetchWith('curl blksize 1468', 'curl', ['-sS', '--tftp-blksize', '1468', '-o', join(dir, 'c2'), url], join(dir, 'c2')),
      fetchWith('tftp-hpa', 'tftp', ['-m', 'binary', SERVER_IP, '-c', 'get', 'big.bin', join(dir, 't1')], join(dir, 't1')),
    ];
    if (has('atftp')) {
      runs.push(fetchWith('atftp blksize 1468 windowsize 16', 'atftp', ['--option', 'blksize 1468', '--option', 'windowsize 16', '-g', '-r', 'big.bin', '-l', join(dir, 'a1'), SERVER_IP], join(dir, 'a1')));
    } else {
      console.log('SKIP: atftp not installed: the windowsize fetch with a real client is not run');
    }
    for (const r of runs) {
      assert.is(await sha256File(r.out), bigSha, r.out);
      rmSync(r.out);
    }
    console.log(`# 50 MB fetch times (ms): ${runs.map((r) => `${r.out.split('/').pop()}=${r.ms}`).join(' ')}`);
  });

  test('TFTP path traversal is refused (curl --path-as-is, tftp-hpa)', () => {
    const c = cns.exec('curl', ['-sS', '--path-as-is', '-o', join(dir, 'x'), `tftp://${SERVER_IP}/../../../../etc/passwd`]);
    assert.is(c.status, 69, `curl exit 69 is "TFTP permission problem": ${c.stderr}`);
    const t = cns.exec('tftp', ['-m', 'binary', SERVER_IP, '-c', 'get', '/etc/passwd', join(dir, 'y')]);
    assert.match(t.stdout + t.stderr, /Error code 2/);
  });

  test('templates render per node over TFTP and HTTP', () => {
    const want = `#!ipxe\necho layercake.id=${N1.id} layercake.parent=${SERVER_IP} ip=${N1.ip}/24\n`;
    const t = cns.exec('curl', ['-sS', `tftp://${SERVER_IP}/boot.ipxe`]);
    assert.is(t.stdout, want);
    const h = cns.exec('curl', ['-sS', `http://${SERVER_IP}:8069/boot.ipxe`]);
    assert.is(h.stdout, want);
    const range = cns.exec('curl', ['-sS', '-r', '0-6', `http://${SERVER_IP}:8069/big.bin`, '-o', join(dir, 'r')]);
    assert.is(range.status, 0);
  });

  test.run();
}
