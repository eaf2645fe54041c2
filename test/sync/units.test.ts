/**
 * The sync protocol's parts, each on its own: config, keys, the datagram codec, the replay window,
 * fragmentation and reassembly, leaves, the ledger, ownership, the scheduler, applying reports.
 */
import {randomBytes, randomUUID} from 'node:crypto';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {applyDsc} from '../../src/sync/apply.js';
import {parseParentUrl, parseSyncConfig} from '../../src/sync/config.js';
import {parseDuration} from '../../src/model/duration.js';
import {deriveJoinKey, deriveSessionKey, newJoinSecret, parseJoinSecret} from '../../src/sync/crypto.js';
import {Ledger} from '../../src/sync/ledger.js';
import {canonical, flatten, getAt, groupRoot, matchPattern, setAt, deleteAt} from '../../src/sync/leaves.js';
import {SyncCounters} from '../../src/sync/metrics.js';
import {Ownership} from '../../src/sync/ownership.js';
import {decodeState} from '../../src/sync/payload.js';
import {ByteBudget, Reassembler} from '../../src/sync/reassembly.js';
import {ReplayWindow} from '../../src/sync/replay.js';
import {Scheduler} from '../../src/sync/scheduler.js';
import {readUuid, writeUuid} from '../../src/sync/uuid.js';
import {HEADER_BYTES, MsgType, OVERHEAD_BYTES, decodeDatagram, encodeDatagram, fragment, verifyDatagram, type Datagram} from '../../src/sync/wire.js';
import {DOUBLE_EXTENSIONS, StoreDouble, registryDouble} from './support/store-double.js';
import {silentLogger} from '../../src/sync/deps.js';

test('config: durations, defaults, timer sanity, parent URLs', () => {
  assert.is(parseDuration('250ms'), 250);
  assert.is(parseDuration('10s'), 10_000);
  assert.is(parseDuration('2m'), 120_000);
  assert.is(parseDuration(1500), 1500);
  assert.throws(() => parseDuration('soon'), /expected a duration/);
  const c = parseSyncConfig({});
  assert.is(c.helloInterval, 10_000);
  assert.is(c.deadInterval, 40_000);
  assert.is(c.maxInFlight, 512);
  assert.is(parseSyncConfig({helloInterval: '1s', deadInterval: '3s'}).deadInterval, 3000);
  assert.throws(() => parseSyncConfig({helloInterval: '10s', deadInterval: '15s'}), /deadInterval: must be at least twice helloInterval/);
  assert.throws(() => parseSyncConfig({bogus: 1}), /config sync/);
  assert.equal(parseParentUrl('10.0.0.1'), {host: '10.0.0.1', port: 31415});
  assert.equal(parseParentUrl('10.0.0.1:4000'), {host: '10.0.0.1', port: 4000});
  assert.equal(parseParentUrl('udp://head:4000'), {host: 'head', port: 4000});
  assert.equal(parseParentUrl('http://head:3141/'), {host: 'head', port: 31415});
  assert.equal(parseParentUrl('[fd00::1]:4000'), {host: 'fd00::1', port: 4000});
  assert.throws(() => parseParentUrl('ftp://x'), /expected udp/);
});

test('keys: derived from the join secret and both nonces, never equal across nodes, sessions or nonces', () => {
  const secret = parseJoinSecret(newJoinSecret());
  const child = randomUUID();
  const parent = randomUUID();
  const nc = randomBytes(16);
  const np = randomBytes(16);
  const k = deriveSessionKey(secret, child, parent, 7, nc, np);
  assert.is(k.length, 32);
  assert.equal(deriveSessionKey(secret, child, parent, 7, nc, np), k, 'deterministic');
  const others = [
    deriveSessionKey(secret, child, parent, 8, nc, np),
    deriveSessionKey(secret, child, parent, 7, randomBytes(16), np),
    deriveSessionKey(secret, child, parent, 7, nc, randomBytes(16)),
    deriveSessionKey(secret, randomUUID(), parent, 7, nc, np),
    deriveSessionKey(parseJoinSecret(newJoinSecret()), child, parent, 7, nc, np),
    deriveJoinKey(secret, child),
  ];
  for (const o of others) assert.not.equal(o, k);
  assert.not.equal(deriveJoinKey(secret, child), deriveJoinKey(secret, randomUUID()));
  assert.throws(() => parseJoinSecret('abc'), /64 hex digits/);
});

test('wire: round trip, and any changed byte or another key fails the HMAC', () => {
  const key = randomBytes(32);
  const h = {type: MsgType.STATE, flags: 1, sender: randomUUID(), recipient: randomUUID(), session: 0xdeadbeef, seq: 42, msgId: 41, fragIndex: 1, fragCount: 3};
  const payload = Buffer.from('{"hello":"world"}');
  const buf = encodeDatagram(h, payload, key);
  assert.is(buf.length, OVERHEAD_BYTES + payload.length);
  const d = decodeDatagram(buf) as Datagram;
  assert.equal({type: d.type, flags: d.flags, sender: d.sender, recipient: d.recipient, session: d.session, seq: d.seq, msgId: d.msgId, fragIndex: d.fragIndex, fragCount: d.fragCount}, h);
  assert.equal(d.payload, payload);
  assert.ok(verifyDatagram(d, key));
  assert.not.ok(verifyDatagram(d, randomBytes(32)));
  for (let i = 0; i < buf.length; i++) {
    const t = Buffer.from(buf);
    t[i] ^= 0x01;
    const td = decodeDatagram(t);
    if (typeof td === 'string') continue; // magic, version or fragment fields: refused before the MAC
    assert.not.ok(verifyDatagram(td, key), `byte ${i} is covered by the HMAC`);
  }
  assert.is(decodeDatagram(buf.subarray(0, 40)), 'malformed');
  const v2 = Buffer.from(buf);
  v2[2] = 2;
  assert.is(decodeDatagram(v2), 'bad_version');
  const u = randomUUID();
  const b = Buffer.alloc(16);
  writeUuid(u, b, 0);
  assert.is(readUuid(b, 0), u);
});

test('replay window: once each, reordering within the window, nothing too old', () => {
  const w = new ReplayWindow(64);
  assert.not.ok(w.check(0));
  for (const s of [1, 2, 5, 4, 3]) {
    assert.ok(w.check(s), `fresh ${s}`);
    w.accept(s);
  }
  for (const s of [1, 2, 3, 4, 5]) assert.not.ok(w.check(s), `replayed ${s}`);
  w.accept(100);
  assert.not.ok(w.check(36), 'older than the window');
  assert.ok(w.check(37), 'inside the window, unseen');
  assert.ok(w.check(99));
  w.accept(99);
  assert.not.ok(w.check(99));
  w.accept(100_000);
  assert.not.ok(w.check(100));
  assert.ok(w.check(99_999));
});

test('fragmentation: reassembled in any order; bounded by size, count, memory and time', () => {
  const payload = randomBytes(10_000);
  const parts = fragment(payload, 1000);
  assert.is(parts.length, Math.ceil(10_000 / (1000 - OVERHEAD_BYTES)));
  assert.ok(parts.every((p) => p.length + OVERHEAD_BYTES <= 1000));
  const budget = new ByteBudget(1 << 20);
  const r = new Reassembler(budget, 1 << 20);
  const order = parts.map((_, i) => i).reverse();
  let done: Buffer | undefined;
  for (const i of order) {
    const res = r.add(7, i, parts.length, parts[i]!, 0);
    if ('done' in res) done = res.done;
    if (i === order[0]) assert.equal(r.add(7, i, parts.length, parts[i]!, 0), {waiting: true}, 'a duplicate fragment is ignored');
  }
  assert.equal(done, payload);
  assert.is(budget.used, 0, 'the budget is given back');
  assert.equal(r.add(8, 0, 1, Buffer.from('x'), 0), {done: Buffer.from('x')});
  // Too large for this peer.
  const small = new Reassembler(budget, 2000);
  assert.ok('error' in small.add(1, 0, 20, Buffer.alloc(900), 0) || 'error' in small.add(1, 1, 20, Buffer.alloc(900), 0) || 'error' in small.add(1, 2, 20, Buffer.alloc(900), 0));
  // The daemon-wide budget.
  const tight = new Reassembler(new ByteBudget(1500), 1 << 20);
  tight.add(1, 0, 3, Buffer.alloc(1000), 0);
  assert.equal(tight.add(1, 1, 3, Buffer.alloc(1000), 0), {error: 'budget'});
  // At most four incomplete messages per peer: the oldest goes.
  const b2 = new ByteBudget(1 << 20);
  const few = new Reassembler(b2, 1 << 20);
  for (let id = 1; id <= 6; id++) few.add(id, 0, 2, Buffer.alloc(100), 0);
  assert.is(few.size, 4);
  assert.is(b2.used, 400);
  // Inconsistent fragment counts, and expiry.
  assert.equal(few.add(6, 1, 3, Buffer.alloc(100), 0), {error: 'inconsistent'});
  few.add(9, 0, 2, Buffer.alloc(100), 20_000);
  assert.is(few.size, 1, 'incomplete messages older than the ttl are dropped');
});

test('selective retransmission: an incomplete message, once quiet, lists its missing fragments (a bounded number of times)', () => {
  const r = new Reassembler(new ByteBudget(1 << 20), 1 << 20);
  for (const i of [0, 2, 5]) r.add(3, i, 6, Buffer.alloc(10), 1000);
  assert.equal(r.missing(1010, 50), [], 'not while fragments are still coming');
  assert.is(r.nextAsk(50), 1050);
  assert.equal(r.missing(1050, 50), [{msgId: 3, indexes: [1, 3, 4]}]);
  assert.equal(r.missing(1060, 50), [], 'not again before another quiet period');
  r.add(3, 1, 6, Buffer.alloc(10), 1070);
  assert.equal(r.missing(1120, 50), [{msgId: 3, indexes: [3, 4]}]);
  r.add(3, 3, 6, Buffer.alloc(10), 1130);
  assert.ok('done' in r.add(3, 4, 6, Buffer.alloc(10), 1131));
  assert.is(r.nextAsk(50), undefined);
  const capped = new Reassembler(new ByteBudget(1 << 20), 1 << 20);
  capped.add(1, 0, 2, Buffer.alloc(10), 0);
  let asks = 0;
  for (let t = 100; t < 5000; t += 100) asks += capped.missing(t, 50, 3).length;
  assert.is(asks, 3);
});

test('leaves: pointers escape, objects flatten, empty objects survive, group roots', () => {
  const node = {physState: 'POWER_ON', extensions: {'a/b': {'x~y': 1, list: [1, 2], empty: {}}}, services: {}};
  const leaves = flatten(node);
  assert.equal([...leaves.keys()].sort(), ['/extensions/a~1b/empty', '/extensions/a~1b/list', '/extensions/a~1b/x~0y', '/physState', '/services']);
  const back: Record<string, unknown> = {};
  for (const [p, v] of leaves) setAt(back, p, v);
  assert.equal(canonical(back), canonical(node));
  assert.is(getAt(node, '/extensions/a~1b/x~0y'), 1);
  deleteAt(back, '/extensions/a~1b/list');
  assert.is(getAt(back, '/extensions/a~1b/list'), undefined);
  assert.is(groupRoot('/extensions/image/images/n1/state'), '/extensions/image');
  assert.is(groupRoot('/services/pxe/state'), '/services/pxe');
  assert.is(groupRoot('/physState'), '/physState');
  assert.ok(matchPattern('/services/*/state', '/services/pxe/state'));
  assert.ok(matchPattern('/extensions/**', '/extensions/a/b/c'));
  assert.not.ok(matchPattern('/services/*/state', '/services/pxe'));
  assert.is(canonical({b: 1, a: [2, {d: 1, c: 2}]}), '{"a":[2,{"c":2,"d":1}],"b":1}');
});

test('ledger: local changes get versions, peer values are not sent back, deletions are tombstones', () => {
  const l = new Ledger();
  assert.equal(l.rescan('dsc', flatten({physState: 'POWER_ON', runState: 'INIT'})), ['/physState', '/runState']);
  assert.is(l.ver, 2);
  assert.equal(l.rescan('dsc', flatten({physState: 'POWER_ON', runState: 'INIT'})), [], 'no change, no version');
  l.recordPeer('dsc', '/extensions/image/state', 'IDLE');
  assert.equal(l.rescan('dsc', flatten({physState: 'POWER_ON', runState: 'INIT', extensions: {image: {state: 'IDLE'}}})), [], 'the peer value is known');
  l.rescan('dsc', flatten({physState: 'POWER_OFF', runState: 'INIT', extensions: {image: {state: 'IDLE'}}}));
  assert.equal(l.changes('dsc', 2, () => true), {set: {'/physState': 'POWER_OFF'}, del: []});
  assert.equal(l.changes('dsc', 0, () => true).set, {'/physState': 'POWER_OFF', '/runState': 'INIT'}, 'only local values are sent');
  l.rescan('dsc', flatten({physState: 'POWER_OFF', extensions: {image: {state: 'IDLE'}}}));
  assert.equal(l.changes('dsc', 3, () => true), {set: {}, del: ['/runState']});
  l.prune(l.ver);
  assert.equal(l.changes('dsc', 0, () => true).del, [], 'acknowledged tombstones are forgotten');
  // Prefix-limited rescans leave the rest alone.
  l.rescan('dsc', flatten({services: {pxe: {state: 'RUN'}}}), '/services/pxe');
  assert.ok(l.dsc.has('/physState'));
  const before = l.ver;
  l.reassert('dsc', '/physState');
  assert.is(l.dsc.get('/physState')!.ver, before + 1);
});

test('ownership: CHILD-only values are the parent\'s, SELF-only the child\'s, the rest shared; secrets stay home', () => {
  const o = new Ownership(registryDouble());
  assert.is(o.authority('/physState'), 'parent');
  assert.is(o.authority('/runState'), 'shared');
  assert.is(o.authority('/extensions/image/state'), 'child');
  assert.is(o.authority('/extensions/image/images'), 'shared');
  assert.ok(o.isSecret('/extensions/sync/joinSecret'));
  assert.ok(o.isSecret('/extensions/vault/password'));
  assert.not.ok(o.isSecret('/extensions/vault/user'));
  assert.not.ok(o.parentSends('cfg', '/extensions/sync/joinSecret'));
  assert.ok(o.parentSends('cfg', '/nodename'));
  assert.not.ok(o.parentSends('dsc', '/nodename'), 'identity fields are cfg facts, not synced dsc');
  assert.not.ok(o.parentSends('dsc', '/extensions/image/state'));
  assert.ok(o.parentSends('dsc', '/runState'));
  assert.ok(o.isZero('/physState', 'PHYS_UNKNOWN'), 'zero: unknown');
  assert.not.ok(o.isZero('/physState', 'POWER_ON'));
  assert.not.ok(o.isZero('/extensions/image/images', 'UNKNOWN'), 'not an enum');
  assert.not.ok(o.childSends('/physState'));
  assert.ok(o.childSends('/extensions/image/state'));
});

test('applying reports: stale shared values lose, parent-owned values are not the child\'s to change', () => {
  const id = randomUUID();
  const store = new StoreDouble(DOUBLE_EXTENSIONS);
  store.create([{id}]);
  const ledger = new Ledger();
  const o = new Ownership(registryDouble());
  const counters = new SyncCounters();
  // The parent discovered these itself (versions 1..2).
  store.discover(id, '/physState', 'POWER_ON');
  store.discover(id, '/runState', 'SYNC');
  ledger.rescan('dsc', new Map([['/physState', 'POWER_ON'], ['/runState', 'SYNC']]));
  // A child report made before it saw version 2: runState is stale, physState is never the child's.
  const r = applyDsc(store, ledger, o, counters, silentLogger, id, 'parent', {'/physState': 'POWER_OFF', '/runState': 'INIT', '/extensions/image/state': 'IDLE'}, [], 1);
  assert.is(store.get(id)!.dsc.physState, 'POWER_ON');
  assert.is(store.get(id)!.dsc.runState, 'SYNC');
  assert.is((store.get(id)!.dsc.extensions.image as {state: string}).state, 'IDLE');
  assert.is(counters.ignored.get('parent_owned'), 1);
  assert.is(counters.ignored.get('stale'), 1);
  assert.ok(r.reasserted, 'the parent re-asserts its value so the child hears it');
  // The same report after the child saw version >= the re-assertion: runState INIT is the child's word now.
  const r2 = applyDsc(store, ledger, o, counters, silentLogger, id, 'parent', {'/runState': 'INIT'}, [], ledger.ver);
  assert.is(r2.applied, 1);
  assert.is(store.get(id)!.dsc.runState, 'INIT');
  assert.is(ledger.dsc.get('/runState')!.owner, 'peer');
  // A child applying its parent's report ignores values that are its own.
  const c = applyDsc(store, ledger, o, counters, silentLogger, id, 'child', {'/extensions/image/state': 'UNKNOWN'}, [], 0);
  assert.is(c.applied, 0);
  assert.is(counters.ignored.get('child_owned'), 1);
  // Unknown extensions are refused by the store: counted, not thrown.
  applyDsc(store, ledger, o, counters, silentLogger, id, 'parent', {'/extensions/nope/x': 1}, [], 99);
  assert.is(counters.ignored.get('invalid'), 1);
});

test('applying reports: "unknown" here is no conflict: a restarted agent takes its parent\'s runState', () => {
  // An agent restarted under Layer0's init: its cfg survived on the RAM disk, its dsc did not, so its
  // first scan records runState UNKNOWN as a local change newer than anything the parent has seen.
  const id = randomUUID();
  const store = new StoreDouble(DOUBLE_EXTENSIONS);
  store.create([{id}]);
  const ledger = new Ledger();
  const o = new Ownership(registryDouble());
  const counters = new SyncCounters();
  ledger.rescan('dsc', new Map([['/runState', 'UNKNOWN']]));
  const r = applyDsc(store, ledger, o, counters, silentLogger, id, 'child', {'/runState': 'SYNC'}, [], 0);
  assert.is(r.applied, 1);
  assert.is(store.get(id)!.dsc.runState, 'SYNC');
  assert.is(counters.ignored.get('stale') ?? 0, 0);
  assert.equal(ledger.changes('dsc', 0, () => true).set, {}, 'the parent\'s word is not sent back as the agent\'s');
  // A known value changed here still wins over a report that had not seen it (as above).
  store.discover(id, '/runState', 'INIT');
  ledger.rescan('dsc', new Map([['/runState', 'INIT']]));
  applyDsc(store, ledger, o, counters, silentLogger, id, 'child', {'/runState': 'SYNC'}, [], 0);
  assert.is(store.get(id)!.dsc.runState, 'INIT');
  assert.is(counters.ignored.get('stale'), 1);
});

test('state payloads are validated', () => {
  assert.ok(decodeState(Buffer.from(JSON.stringify({n: 'x', v: 1, b: 0, a: 0, f: 1, d: {'/runState': 'SYNC'}}))));
  assert.not.ok(decodeState(Buffer.from(JSON.stringify({n: 'x', v: -1, b: 0, a: 0, f: 1}))));
  assert.not.ok(decodeState(Buffer.from(JSON.stringify({n: 'x', v: 1, b: 0, a: 0, f: 1, d: {runState: 'SYNC'}}))), 'keys must be pointers');
  assert.not.ok(decodeState(Buffer.from('not json')));
});

test('scheduler: one wake-up runs everything due within the slack; lazy reschedules', async () => {
  let now = 1000;
  const s = new Scheduler(50, () => now);
  const ran: string[] = [];
  const item = (name: string, every?: number) => ({tick(t: number) { ran.push(`${name}@${t}`); return every ? t + every : undefined; }});
  const a = item('a');
  const b = item('b');
  const c = item('c');
  s.schedule(a, 1000);
  s.schedule(b, 1040); // within the slack of a
  s.schedule(c, 1200);
  s.schedule(c, 1300); // later: stays at 1200 (lazy)
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(ran, ['a@1000', 'b@1000']);
  now = 1200;
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(ran, ['a@1000', 'b@1000', 'c@1200']);
  s.stop();
});

test('a large header leaves room: HEADER_BYTES is the documented 54', () => {
  assert.is(HEADER_BYTES, 54);
  assert.is(OVERHEAD_BYTES, 86);
});

test.run();
