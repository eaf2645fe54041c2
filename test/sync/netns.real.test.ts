/**
 * State sync over a lossy network: the parent daemon in one network namespace, 20 child daemons in
 * another, a veth pair between them, and in both namespaces an nft rule dropping 5% of outgoing UDP
 * (`numgen random mod 100 < 5 drop`). Everything must still converge: phone-home, SYNC, the children's
 * discoveries, cfg changes, and a parent restart. The namespaces are created and removed by the test.
 */
import {execFileSync} from 'node:child_process';
import {randomBytes, randomUUID} from 'node:crypto';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import type {NodeView} from '../../src/model/node.js';
import {newJoinSecret} from '../../src/sync/index.js';
import {Host, until, type DaemonSpec} from './support/hosts.js';

const have = (cmd: string) => { try { execFileSync('sh', ['-c', `command -v ${cmd}`], {stdio: 'ignore'}); return true; } catch { return false; } };
const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : !have('ip') ? 'needs iproute2 (ip)' : !have('nft') ? 'needs nftables (nft)' : '';

if (skip) {
  console.log(`SKIP: ${skip}`);
  test.skip('sync converges over veth with 5% of UDP dropped', () => {});
} else {
  const tag = randomBytes(3).toString('hex');
  const nsP = `lcsync-p-${tag}`;
  const nsC = `lcsync-c-${tag}`;
  const net = `10.231.${randomBytes(1)[0]}`;
  const dir = mkdtempSync(join(tmpdir(), 'lc-sync-netns-'));
  const sh = (...args: string[]) => execFileSync(args[0]!, args.slice(1), {stdio: ['ignore', 'pipe', 'pipe']}).toString();
  const inNs = (ns: string, ...args: string[]) => sh('ip', 'netns', 'exec', ns, ...args);
  const hosts: Host[] = [];
  let parent: Host | undefined;

  test.after(async () => {
    await Promise.all([parent, ...hosts].map((h) => h?.kill()));
    for (const ns of [nsP, nsC]) { try { sh('ip', 'netns', 'del', ns); } catch { /* not created */ } }
    rmSync(dir, {recursive: true, force: true});
  });

  test('sync converges over veth with 5% of UDP dropped (both ways), and after a parent restart', async () => {
    sh('ip', 'netns', 'add', nsP);
    sh('ip', 'netns', 'add', nsC);
    sh('ip', 'link', 'add', `vp${tag}`, 'netns', nsP, 'type', 'veth', 'peer', 'name', `vc${tag}`, 'netns', nsC);
    inNs(nsP, 'ip', 'addr', 'add', `${net}.1/24`, 'dev', `vp${tag}`);
    inNs(nsC, 'ip', 'addr', 'add', `${net}.2/24`, 'dev', `vc${tag}`);
    for (const [ns, dev] of [[nsP, `vp${tag}`], [nsC, `vc${tag}`]] as const) {
      inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
      inNs(ns, 'ip', 'link', 'set', dev, 'up');
      inNs(ns, 'nft', 'add table inet lossy');
      inNs(ns, 'nft', 'add chain inet lossy out { type filter hook output priority 0 ; }');
      inNs(ns, 'nft', 'add rule inet lossy out meta l4proto udp numgen random mod 100 < 5 counter drop');
    }

    // Hello 1 s (retransmissions back off up to it): lost fragments must come back through NACKs, not whole resends.
    const timers = {helloInterval: 1000, deadInterval: 4000, retransmit: 100, phoneHomeRetry: 100, phoneHomeRetryMax: 500, fullStateInterval: '10s'};
    const P = randomUUID();
    const parentSpec: DaemonSpec = {stateDir: join(dir, 'parent'), id: P, nodename: 'head', sync: {...timers, listen: `${net}.1:31415`}};
    const kids = Array.from({length: 20}, (_, i) => ({id: randomUUID(), name: `n${String(i + 1).padStart(2, '0')}`, secret: newJoinSecret()}));
    parent = await Host.start([parentSpec], {netns: nsP});
    await parent.request('apply', {inputs: kids.map((k) => ({
      id: k.id, nodename: k.name, parentId: P, physState: 'POWER_ON', runState: 'SYNC',
      extensions: {probe: {state: 'READY'}, sync: {joinSecret: k.secret}},
    }))});
    const spec = (k: (typeof kids)[number]): DaemonSpec => ({stateDir: join(dir, k.name), id: k.id, parent: `${net}.1:31415`, joinSecret: k.secret, sync: {...timers, listen: `${net}.2:0`}});
    hosts.push(...await Promise.all([kids.slice(0, 10), kids.slice(10)].map((g) => Host.start(g.map(spec), {netns: nsC}))));
    const views = async () => new Map((await parent!.request<NodeView[]>('views')).map((v) => [v.cfg.id, v]));
    const probe = (v: NodeView | undefined) => (v?.dsc.extensions.probe ?? {}) as {state?: string; echo?: string};

    const t0 = Date.now();
    await until('20 children SYNC and READY through the lossy link', async () => {
      const all = await views();
      return kids.every((k) => all.get(k.id)?.dsc.runState === 'SYNC' && probe(all.get(k.id)).state === 'READY');
    }, 60_000, 100);
    console.log(`    20 children SYNC and READY in ${Date.now() - t0} ms`);

    // A cfg change for every child goes down, and each child's mirror of it comes back up.
    for (const k of kids) await parent.request('setCfg', {node: k.id, url: '/extensions/probe/echo', value: `hello-${k.name}`});
    const t1 = Date.now();
    await until('every echo back at the parent', async () => {
      const all = await views();
      return kids.every((k) => probe(all.get(k.id)).echo === `hello-${k.name}`);
    }, 60_000, 50);
    console.log(`    20 cfg changes down and their echoes up in ${Date.now() - t1} ms`);

    // A state far larger than one datagram (~40 fragments of which 5% are lost each way) still gets through.
    const blob = randomBytes(25_000).toString('hex');
    await parent.request('setCfg', {node: kids[0]!.id, url: '/extensions/probe/blob', value: blob});
    const t3 = Date.now();
    await until('the 50 KB blob mirrored back up', async () => ((await views()).get(kids[0]!.id)?.dsc.extensions.probe as {blob?: string} | undefined)?.blob === blob, 60_000, 50);
    const resent = (await parent.request<{fragmentsResent: number}>('counters')).fragmentsResent + (await hosts[0]!.request<{fragmentsResent: number}>('counters')).fragmentsResent;
    console.log(`    a 50 KB cfg value down and its mirror up (fragmented both ways) in ${Date.now() - t3} ms (${resent} lost fragments sent again)`);

    // The parent stops (gracefully: its children hear BYE and phone home until it is back; the kill -9
    // case is in daemons.test.ts) and restarts: every child comes back, nothing lost.
    await parent.stop();
    parent = await Host.start([parentSpec], {netns: nsP});
    const t2 = Date.now();
    await until('every child back after the parent restart', async () => {
      const all = await views();
      return kids.every((k) => all.get(k.id)?.dsc.runState === 'SYNC' && probe(all.get(k.id)).state === 'READY' && probe(all.get(k.id)).echo === `hello-${k.name}`);
    }, 60_000, 100);
    console.log(`    all children back ${Date.now() - t2} ms after the parent restarted`);

    // The loss was real.
    const dropped = [nsP, nsC].map((ns) => Number(/counter packets (\d+)/.exec(inNs(ns, 'nft', 'list', 'table', 'inet', 'lossy'))?.[1] ?? 0));
    const counters = await parent.request<{retransmits: number}>('counters');
    console.log(`    nft dropped ${dropped[0]} datagrams leaving the parent, ${dropped[1]} leaving the children; parent retransmits ${counters.retransmits}`);
    assert.ok(dropped[0]! > 0 && dropped[1]! > 0, 'the nft rules dropped datagrams both ways');
  });
}

test.run();
