/**
 * bench/pxe: the plugin's boot servers against the Debian baselines, side by side in one run, over a
 * veth pair between two network namespaces this benchmark creates and removes.
 *
 *   1. TFTP throughput, 1 and 50 concurrent curl clients, same file, vs tftpd-hpa (in.tftpd)   ratio ≥ 1.0
 *      (every download, from either server, is checked against the file's SHA-256)
 *   2. DHCP DORA rate for 1,000 clients (relay-style client, 64 in flight) vs dnsmasq            ratio ≥ 1.0
 *   3. A boot storm: N clients at once, each DORA then a TFTP download; failed boots must be 0
 *
 * The default run is short. The figures:
 *   node --import tsx bench/pxe/index.ts --full        (50 MB file; storm 1,000 clients × 20 MB)
 * Other flags: --tftp-mb N, --clients 1,50, --blksize N, --dora N, --dora-concurrency N, --storm N,
 * --storm-mb N, --storm-blksize N, --storm-windowsize N, --only tftp,dhcp,storm, --repeat N.
 */
import type {ChildProcess} from 'node:child_process';
import {createHash, randomBytes} from 'node:crypto';
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {createInterface} from 'node:readline';
import {has, Netns, netnsUnavailable, veth} from '../../plugins/pxe/test/support/netns.js';
import {benchNodes, CLIENT_IP, PREFIX, SERVER_IP} from './nodes.js';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : undefined; };
const full = argv.includes('--full');
const num = (name: string, quick: number, big: number): number => Number(flag(name) ?? (full ? big : quick));
const opts = {
  tftpMb: num('tftp-mb', 8, 50),
  clients: (flag('clients') ?? '1,50').split(',').map(Number),
  blksize: num('blksize', 1468, 1468),
  dora: num('dora', 1000, 1000),
  doraConcurrency: num('dora-concurrency', 64, 64),
  storm: num('storm', 100, 1000),
  stormMb: num('storm-mb', 2, 20),
  stormBlksize: num('storm-blksize', 1468, 1468),
  stormWindowsize: num('storm-windowsize', 16, 16),
  only: (flag('only') ?? 'tftp,dhcp,storm').split(','),
  repeat: num('repeat', 1, 1),
};

const here = new URL('.', import.meta.url).pathname;
const unavailable = netnsUnavailable();
if (unavailable) {
  console.log(`SKIP: ${unavailable}`);
  process.exit(0);
}

const id = process.pid % 100000;
const dir = mkdtempSync(join(tmpdir(), 'lc-bench-pxe-'));
const root = join(dir, 'root');
mkdirSync(root, {recursive: true});
const sns = Netns.create(`lcbps${id}`);
const cns = Netns.create(`lcbpc${id}`);
const children = new Set<ChildProcess>();

function cleanup(): void {
  for (const c of children) c.kill('SIGKILL');
  cns.delete();
  sns.delete();
  rmSync(dir, {recursive: true, force: true});
}
process.on('SIGINT', () => { cleanup(); process.exit(130); });

function startJson(ns: Netns, script: string, arg: object): Promise<{child: ChildProcess; lines: object[]; stop: () => Promise<object[]>}> {
  const child = ns.spawn(process.execPath, ['--import', 'tsx', join(here, script), JSON.stringify(arg)]);
  children.add(child);
  const lines: object[] = [];
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<void>((r) => child.once('exit', () => { children.delete(child); r(); }));
  return new Promise((resolve, reject) => {
    createInterface({input: child.stdout!}).on('line', (l) => {
      try {
        const o = JSON.parse(l);
        lines.push(o);
        if (o.event === 'ready') resolve({child, lines, stop: async () => { child.stdin!.end(); await exited; return lines; }});
      } catch { /* ignore */ }
    });
    void exited.then(() => reject(new Error(`${script} exited: ${err}`)));
  });
}

function runJson(ns: Netns, script: string, arg: object): Promise<any> {
  return new Promise((resolve, reject) => {
    const child = ns.spawn(process.execPath, ['--import', 'tsx', join(here, script), JSON.stringify(arg)]);
    children.add(child);
    let out = '', err = '';
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { err += d; });
    child.on('exit', (code) => {
      children.delete(child);
      try { resolve(JSON.parse(out.trim().split('\n').pop()!)); } catch { reject(new Error(`${script} failed (${code}): ${err}`)); }
    });
  });
}

async function waitListening(ns: Netns, port: number, proto: 'u' | 't'): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = ns.exec('ss', [`-ln${proto}`]);
    if (r.stdout.includes(`:${port} `)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}/${proto === 'u' ? 'udp' : 'tcp'}`);
}

/**
 * n concurrent curl downloads of `file`, each piped through sha256sum: a download counts only when its
 * checksum is the file's (`sha256`), for the plugin and tftpd-hpa alike. Returns seconds and failures.
 */
function curlRun(n: number, file: string, sha256: string): {seconds: number; failed: number} {
  const cmd = `set -o pipefail; for i in $(seq ${n}); do (curl -sS --interface ${benchNodes(1)[0]!.ip} --tftp-blksize ${opts.blksize} tftp://${SERVER_IP}/${file} | sha256sum > ${dir}/curl.$i) & done; `
    + `fail=0; for j in $(jobs -p); do wait $j || fail=$((fail+1)); done; for i in $(seq ${n}); do [ "$(cut -d' ' -f1 ${dir}/curl.$i)" = "${sha256}" ] || fail=$((fail+1)); done; echo $fail`;
  const t = process.hrtime.bigint();
  const r = cns.exec('bash', ['-c', cmd], {timeout: 900_000});
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  return {seconds, failed: Number(r.stdout.trim().split('\n').pop())};
}

/** Writes `size` random bytes to `path`; returns their SHA-256 (what every download must reproduce). */
function randomFile(path: string, size: number): string {
  const data = randomBytes(size);
  writeFileSync(path, data);
  return createHash('sha256').update(data).digest('hex');
}

const fmt = (x: number, d = 1): string => x.toFixed(d);
const results: Record<string, unknown> = {options: opts};

try {
  veth(sns, `lbs${id}`, cns, `lbc${id}`);
  sns.ip('addr', 'add', `${SERVER_IP}/${PREFIX}`, 'dev', `lbs${id}`);
  cns.ip('addr', 'add', `${CLIENT_IP}/${PREFIX}`, 'dev', `lbc${id}`);
  const nodeCount = Math.max(opts.dora, opts.storm, 1);
  // Every node's address on the client side, so each simulated node downloads from its own address.
  const batch = benchNodes(nodeCount).map((n) => `addr add ${n.ip}/32 dev lbc${id}`).join('\n');
  writeFileSync(join(dir, 'addrs'), `${batch}\n`);
  cns.ip('-batch', join(dir, 'addrs'));
  console.log(`bench/pxe: ${full ? 'full' : 'quick (use --full for the issue figures)'} run; veth between two namespaces; ${nodeCount} nodes`);

  if (opts.only.includes('tftp')) {
    const size = opts.tftpMb * 1024 * 1024;
    const sha256 = randomFile(join(root, 'big.bin'), size);
    const haveHpa = has('in.tftpd') && has('curl');
    if (!haveHpa) console.log('SKIP: tftpd-hpa (in.tftpd) or curl is not installed: no TFTP baseline');
    const tftp: Record<string, unknown> = {};
    for (const n of opts.clients) {
      const best = {ours: Infinity, hpa: Infinity};
      for (let rep = 0; rep < opts.repeat; rep++) {
        const srv = await startJson(sns, 'server.ts', {nodes: 1, root, stateDir: dir, tftpPort: 69, dhcpPort: 6767});
        const ours = curlRun(n, 'big.bin', sha256);
        await srv.stop();
        if (ours.failed) throw new Error(`${ours.failed} of ${n} downloads from the plugin failed`);
        best.ours = Math.min(best.ours, ours.seconds);
        if (haveHpa) {
          const hpa = sns.spawn('in.tftpd', ['-L', '-s', root, '-a', `${SERVER_IP}:69`, '-B', '65464']);
          children.add(hpa);
          await waitListening(sns, 69, 'u');
          const base = curlRun(n, 'big.bin', sha256);
          hpa.kill('SIGTERM');
          await new Promise((r) => hpa.once('exit', r));
          children.delete(hpa);
          if (base.failed) throw new Error(`${base.failed} of ${n} downloads from tftpd-hpa failed`);
          best.hpa = Math.min(best.hpa, base.seconds);
        }
      }
      const mbps = (s: number): number => (n * size) / s / 1e6;
      const line = `TFTP ${n} client${n > 1 ? 's' : ' '} × ${opts.tftpMb} MB, blksize ${opts.blksize}: plugin ${fmt(mbps(best.ours))} MB/s`;
      if (haveHpa) {
        const ratio = mbps(best.ours) / mbps(best.hpa);
        console.log(`${line}, tftpd-hpa ${fmt(mbps(best.hpa))} MB/s  ratio ${fmt(ratio, 2)} (target >= 1.0)`);
        tftp[`clients${n}`] = {plugin: mbps(best.ours), tftpdHpa: mbps(best.hpa), ratio};
      } else {
        console.log(line);
        tftp[`clients${n}`] = {plugin: mbps(best.ours)};
      }
    }
    if (has('atftp') && haveHpa) {
      // A client that asks for windowsize (RFC 7440): tftpd-hpa ignores the option and stays in lockstep.
      const atftp = (): {seconds: number; failed: number} => {
        const t = process.hrtime.bigint();
        const out = join(dir, 'atftp.out');
        rmSync(out, {force: true});
        const r = cns.exec('atftp', ['--option', `blksize ${opts.blksize}`, '--option', 'windowsize 16', '-g', '-r', 'big.bin', '-l', out, SERVER_IP], {timeout: 600_000});
        const seconds = Number(process.hrtime.bigint() - t) / 1e9;
        const same = r.status === 0 && createHash('sha256').update(readFileSync(out)).digest('hex') === sha256; // checked after the clock stops
        return {seconds, failed: same ? 0 : 1};
      };
      const srv = await startJson(sns, 'server.ts', {nodes: 1, root, stateDir: dir, tftpPort: 69, dhcpPort: 6767});
      const ours = atftp();
      await srv.stop();
      const hpa = sns.spawn('in.tftpd', ['-L', '-s', root, '-a', `${SERVER_IP}:69`, '-B', '65464']);
      children.add(hpa);
      await waitListening(sns, 69, 'u');
      const base = atftp();
      hpa.kill('SIGTERM');
      await new Promise((r) => hpa.once('exit', r));
      children.delete(hpa);
      if (ours.failed || base.failed) throw new Error('an atftp download failed or differs from the file (SHA-256)');
      const mb = (s: number): number => size / s / 1e6;
      const ratio = mb(ours.seconds) / mb(base.seconds);
      console.log(`TFTP 1 client  × ${opts.tftpMb} MB, atftp asking blksize ${opts.blksize} + windowsize 16: plugin ${fmt(mb(ours.seconds))} MB/s, tftpd-hpa ${fmt(mb(base.seconds))} MB/s (no windowsize)  ratio ${fmt(ratio, 2)}`);
      tftp.atftpWindowsize16 = {plugin: mb(ours.seconds), tftpdHpa: mb(base.seconds), ratio};
    }
    results.tftp = tftp;
  }

  if (opts.only.includes('dhcp')) {
    const srv = await startJson(sns, 'server.ts', {nodes: nodeCount, root, stateDir: dir, tftpPort: 6969, dhcpPort: 67});
    const ours = await runJson(cns, 'client.ts', {mode: 'dora', count: opts.dora, concurrency: opts.doraConcurrency, server: SERVER_IP, port: 67});
    await srv.stop();
    const oursRate = (opts.dora - ours.failed) / (ours.ms / 1000);
    let line = `DHCP DORA ${opts.dora} clients (${opts.doraConcurrency} in flight): plugin ${fmt(oursRate, 0)}/s (${ours.failed} failed, ${ours.retries} retries)`;
    const dhcp: Record<string, unknown> = {plugin: oursRate, pluginFailed: ours.failed};
    if (has('dnsmasq')) {
      const hosts = benchNodes(nodeCount).map((n) => `dhcp-host=${n.mac},${n.ip},${n.nodename}`).join('\n');
      writeFileSync(join(dir, 'dnsmasq.conf'), [
        'port=0', `interface=lbs${id}`, 'bind-interfaces', 'dhcp-authoritative', `dhcp-range=10.213.0.0,static,255.255.0.0,24h`,
        `dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`, `dhcp-option=option:router,${SERVER_IP}`, `dhcp-option=option:dns-server,${SERVER_IP}`,
        'domain=bench.test', 'dhcp-boot=undionly.kpxe', hosts, ''].join('\n'));
      const dm = sns.spawn('dnsmasq', ['-k', '--conf-file=' + join(dir, 'dnsmasq.conf'), '--pid-file=' + join(dir, 'dnsmasq.pid'), '--user=root', '--group=root']);
      children.add(dm);
      await waitListening(sns, 67, 'u');
      const base = await runJson(cns, 'client.ts', {mode: 'dora', count: opts.dora, concurrency: opts.doraConcurrency, server: SERVER_IP, port: 67});
      dm.kill('SIGTERM');
      await new Promise((r) => dm.once('exit', r));
      children.delete(dm);
      const baseRate = (opts.dora - base.failed) / (base.ms / 1000);
      const ratio = oursRate / baseRate;
      line += `, dnsmasq ${fmt(baseRate, 0)}/s (${base.failed} failed)  ratio ${fmt(ratio, 2)} (target >= 1.0)`;
      Object.assign(dhcp, {dnsmasq: baseRate, dnsmasqFailed: base.failed, ratio});
    } else {
      console.log('SKIP: dnsmasq is not installed: no DHCP baseline');
    }
    console.log(line);
    results.dhcp = dhcp;
  }

  if (opts.only.includes('storm')) {
    const size = opts.stormMb * 1024 * 1024;
    const sha256 = randomFile(join(root, 'storm.bin'), size);
    const srv = await startJson(sns, 'server.ts', {nodes: nodeCount, root, stateDir: dir, tftpPort: 69, dhcpPort: 67});
    const r = await runJson(cns, 'client.ts', {mode: 'storm', count: opts.storm, concurrency: opts.storm, server: SERVER_IP, port: 67, tftpPort: 69,
      file: 'storm.bin', blksize: opts.stormBlksize, windowsize: opts.stormWindowsize, expectBytes: size, expectSha256: sha256});
    const stats = (await srv.stop()).find((l) => (l as {event: string}).event === 'stats') as {retransmits: number; dhcp: Record<string, number>} | undefined;
    const line = `boot storm: ${opts.storm} clients at once, DORA + ${opts.stormMb} MB TFTP each (blksize ${opts.stormBlksize}, windowsize ${opts.stormWindowsize}): `
      + `${opts.storm - r.failed} booted (each download's SHA-256 checked), ${r.failed} failed in ${fmt(r.ms / 1000)} s (${fmt(r.bytes / (r.ms / 1000) / 1e6)} MB/s aggregate; `
      + `${r.retries} DHCP retries, ${stats?.retransmits ?? '?'} TFTP retransmissions) target: 0 failed`;
    console.log(line);
    if (r.errors.length) console.log(`  first failures: ${r.errors.join('; ')}; server DHCP counters ${JSON.stringify(stats?.dhcp)}`);
    results.storm = {clients: opts.storm, failed: r.failed, seconds: r.ms / 1000, retries: r.retries, tftpRetransmits: stats?.retransmits};
  }
  if (argv.includes('--json')) console.log(JSON.stringify(results));
} finally {
  cleanup();
}
