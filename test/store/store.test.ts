import {spawn} from 'node:child_process';
import {createHash} from 'node:crypto';
import {appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {StoreDamagedError} from '../../src/model/errors.js';
import {Registry} from '../../src/model/registry.js';
import {Store} from '../../src/store/store.js';
import {requireBuild} from '../support/cli.js';

requireBuild('dist/store/store.js'); // the kill -9 writer runs the built store
const tmp = () => mkdtempSync(join(tmpdir(), 'lc-store-'));

/** Runs the writer until it has acknowledged a few writes, then kills it with SIGKILL mid-loop. */
function writeAndKill(dir: string, start: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [new URL('./writer.js', import.meta.url).pathname, dir, String(start)], {stdio: ['ignore', 'pipe', 'inherit']});
    let last = start - 1, buffer = '';
    const target = start + 5 + Math.floor(Math.random() * 40);
    child.stdout.on('data', (d) => {
      buffer += d;
      for (const m of buffer.matchAll(/ack (\d+)\n/g)) last = Number(m[1]);
      buffer = buffer.slice(buffer.lastIndexOf('\n') + 1);
      if (last >= target) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve(last) : reject(new Error(`writer exited ${code}`))));
  });
}

test('kill -9 at any moment loses no acknowledged write and never leaves a corrupt store', async () => {
  const dir = tmp();
  try {
    let next = 0;
    for (let round = 0; round < 25; round++) {
      const acked = await writeAndKill(dir, next);
      const store = Store.open({dir, registry: new Registry(), compactAfter: 50});
      for (let i = 0; i <= acked; i++) {
        if (i % 3 === 2) assert.is(store.byName(`n${i - 1}`)?.cfg.physState, 'POWER_ON', `round ${round}: write ${i} lost`);
        else assert.ok(store.byName(`n${i}`), `round ${round}: node n${i} lost`);
      }
      store.close();
      next = acked + 1;
    }
    assert.ok(next > 100, `only ${next} writes in 25 rounds`);
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

test('a torn last line is cut, kept beside the journal and logged; later writes follow the last whole record', () => {
  const dir = tmp();
  try {
    const s1 = Store.open({dir, registry: new Registry()});
    s1.apply([{nodename: 'a'}]);
    s1.apply([{nodename: 'b'}]);
    s1.close();
    const torn = '0123abcd {"seq":3,"put":[{"id":';
    appendFileSync(join(dir, 'cfg.journal'), torn);
    const warnings: string[] = [];
    const s2 = Store.open({dir, registry: new Registry(), warn: (m) => warnings.push(m)});
    assert.is(s2.size, 2);
    const kept = readdirSync(dir).filter((f) => f.startsWith('cfg.journal.torn-'));
    assert.is(kept.length, 1, 'the cut bytes are kept beside the journal');
    assert.is(readFileSync(join(dir, kept[0]), 'utf8'), torn);
    assert.is(warnings.length, 1);
    assert.match(warnings[0], new RegExp(`cut a torn last line of ${torn.length} bytes .* kept in .*${kept[0]}`));
    // Written after the recovery: glued onto the torn bytes, this record would make the next open fail.
    s2.apply([{nodename: 'c'}]);
    s2.close();
    const s3 = Store.open({dir, registry: new Registry()});
    assert.equal(s3.list().map((v) => v.cfg.nodename).sort(), ['a', 'b', 'c']);
    s3.close();
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

/** A store with a snapshot (seq 1-3) and two journal records after it (seq 4, 5). */
function storeWithSnapshot(dir: string): void {
  const store = Store.open({dir, registry: new Registry(), compactAfter: 3});
  for (const name of ['a', 'b', 'c', 'd', 'e']) store.apply([{nodename: name}]);
  store.close();
  assert.ok(existsSync(join(dir, 'cfg.snapshot')));
  assert.is(readFileSync(join(dir, 'cfg.journal'), 'utf8').split('\n').length, 3);
}

const files = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));

/** Byte offsets of the journal's lines. */
const lineStarts = (data: Buffer) => [0, ...[...data.entries()].filter(([, b]) => b === 10).map(([i]) => i + 1)];

const flip = (file: string, at: (data: Buffer) => number, to?: number) => (dir: string) => {
  const data = readFileSync(join(dir, file));
  const i = at(data);
  data[i] = to ?? data[i] ^ 0x01;
  writeFileSync(join(dir, file), data);
  return i;
};

const damages: [string, (dir: string) => number, string, RegExp][] = [
  ['a flipped byte in the first journal record', flip('cfg.journal', () => 20), 'cfg.journal', /at byte 0: record 1: checksum mismatch/],
  ['a flipped byte in the last journal record', flip('cfg.journal', (d) => lineStarts(d)[1] + 20), 'cfg.journal', /at byte \d+: record 2: checksum mismatch/],
  ['a flipped byte in a checksum', flip('cfg.journal', (d) => lineStarts(d)[1] + 3, 0x7a), 'cfg.journal', /record 2: not a record/],
  ['a newline written inside the last record', flip('cfg.journal', (d) => lineStarts(d)[1] + 20, 10), 'cfg.journal', /record 2: checksum mismatch/],
  ['the last record\'s newline changed', flip('cfg.journal', (d) => d.length - 1, 0x20), 'cfg.journal', /record 2 is whole but its newline was changed/],
  ['a flipped byte in the snapshot', flip('cfg.snapshot', (d) => d.length - 30), 'cfg.snapshot', /at byte 0: the snapshot record \(bytes 0 to \d+\): checksum mismatch/],
  ['an empty snapshot', (dir) => (writeFileSync(join(dir, 'cfg.snapshot'), ''), 0), 'cfg.snapshot', /at byte 0: the snapshot is empty/],
  ['a snapshot cut short', (dir) => (truncateSync(join(dir, 'cfg.snapshot'), 100), 100), 'cfg.snapshot', /at byte 100: the snapshot ends without its newline/],
  ['a missing snapshot', (dir) => (rmSync(join(dir, 'cfg.snapshot')), 0), 'cfg.journal', /at byte 0: the journal starts at seq 4 and there is no snapshot \(cfg.snapshot\) holding seq 1 to 3/],
];

for (const [name, damage, file, message] of damages) {
  test(`${name}: the store refuses to open, naming the file, the byte and what to do, and changes nothing`, () => {
    const dir = tmp();
    try {
      storeWithSnapshot(dir);
      const offset = damage(dir);
      const before = files(dir);
      try {
        Store.open({dir, registry: new Registry()});
        assert.unreachable('a damaged store opened');
      } catch (error) {
        assert.instance(error, StoreDamagedError);
        const e = error as StoreDamagedError;
        assert.is(e.code, 'LC_ERR_STORE_DAMAGED');
        assert.is(e.file, join(dir, file));
        assert.match(e.message, message);
        assert.match(e.message, new RegExp(`${join(dir, file)} at byte`));
        if (/flipped byte in the (first|last)/.test(name)) assert.ok(e.offset <= offset, 'the offset is that of the damaged record');
        const stateDir = dirname(dir);
        assert.ok(String(e.detail.hint).includes(`layercake store check --state-dir ${stateDir}\` reports the damage; restore a backup with \`layercake store restore BACKUP --state-dir ${stateDir} --force`), String(e.detail.hint));
      }
      assert.equal(files(dir), before, 'nothing changed on disk');
    } finally {
      rmSync(dir, {recursive: true, force: true});
    }
  });
}

test('a format 1 store (SHA-1 lines, a bare JSON snapshot) is read and rewritten as format 2 once', () => {
  const dir = tmp();
  try {
    const s1 = Store.open({dir, registry: new Registry()});
    const [a, b] = [s1.create([{nodename: 'a'}])[0], s1.create([{nodename: 'b'}])[0]];
    s1.close();
    const sha = (json: string) => createHash('sha1').update(json).digest('hex').slice(0, 12);
    const line = JSON.stringify({seq: 2, put: [b]});
    rmSync(join(dir, 'cfg.journal'));
    writeFileSync(join(dir, 'cfg.snapshot.json'), JSON.stringify({seq: 1, items: [a]}));
    writeFileSync(join(dir, 'cfg.journal'), `${sha(line)} ${line}\n`);
    const s2 = Store.open({dir, registry: new Registry()});
    assert.equal(s2.list().map((v) => v.cfg.nodename).sort(), ['a', 'b']);
    assert.is(s2.sequence, 2);
    s2.close();
    assert.not.ok(existsSync(join(dir, 'cfg.snapshot.json')), 'the format 1 snapshot is gone');
    assert.is(readFileSync(join(dir, 'cfg.journal'), 'utf8'), '', 'the journal was folded into the new snapshot');
    assert.match(readFileSync(join(dir, 'cfg.snapshot'), 'utf8'), /^[0-9a-f]{8} \{"format":2,"seq":2,/);
    const s3 = Store.open({dir, registry: new Registry()});
    assert.is(s3.size, 2);
    s3.close();
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

test('bad input is rejected whole, naming node, URL and value, and changes nothing', () => {
  const dir = tmp();
  const store = Store.open({dir, registry: new Registry()});
  try {
    store.apply([{nodename: 'n1'}]);
    const attempts: [unknown[], RegExp][] = [
      [[{nodename: 'n2'}, {nodename: 'n3', physState: 'ON'}], /node n3: \/physState: expected one of PHYS_UNKNOWN, POWER_OFF, POWER_ON/],
      [[{nodename: 'n2', extensions: {pxe: {}}}], /node n2: \/extensions\/pxe: unknown extension \(registered: ipv4, power\)/],
      [[{nodename: 'n2', extensions: {ipv4: {ip: '10.0.0.300'}}}], /node n2: \/extensions\/ipv4\/ip: expected an IPv4 address/],
      [[{nodename: 'n2'}, {nodename: 'n2'}], /node n2: \/nodename: appears twice in the input/],
      [[{nodename: 'bad name'}], /expected a host name/],
      [[{nodename: 'n2', colour: 'red'}], /unknown field colour/],
    ];
    for (const [input, message] of attempts) {
      assert.throws(() => store.apply(input), message);
      assert.is(store.size, 1, `state changed by ${JSON.stringify(input)}`);
    }
    assert.throws(() => store.create([{nodename: 'n1'}]), /node n1: already exists/);
    assert.throws(() => store.discover(store.byName('n1')!.cfg.id, 'runState', 'RUNNING', 'x'), /\/runState: expected one of UNKNOWN, INIT, SYNC, ERROR, got "RUNNING"/);
  } finally {
    store.close();
    rmSync(dir, {recursive: true, force: true});
  }
});

test('history is bounded per node and records cfg and dsc changes with timestamps', () => {
  const dir = tmp();
  const store = Store.open({dir, registry: new Registry(), historyLimit: 5});
  try {
    const [n] = store.create([{nodename: 'n1'}]);
    for (const v of ['POWER_OFF', 'POWER_ON', 'POWER_OFF', 'POWER_ON', 'POWER_OFF', 'POWER_ON']) store.discover(n.id, 'physState', v, 'test');
    const h = store.history(n.id);
    assert.is(h.length, 5);
    assert.ok(h.every((e) => e.kind === 'dsc' && typeof e.time === 'number'));
    assert.is(h.at(-1)!.value, 'POWER_ON');
  } finally {
    store.close();
    rmSync(dir, {recursive: true, force: true});
  }
});

test('apply --dry-run reports the diff without writing; merge keeps omitted fields', () => {
  const dir = tmp();
  const store = Store.open({dir, registry: new Registry()});
  try {
    store.apply([{nodename: 'n1', arch: 'amd64', physState: 'POWER_ON'}]);
    const dry = store.apply([{nodename: 'n1', physState: 'POWER_OFF'}], {dryRun: true});
    assert.equal(dry.changes.map((c) => [c.url, c.previous, c.value]), [['/physState', 'POWER_ON', 'POWER_OFF']]);
    assert.is(store.byName('n1')!.cfg.physState, 'POWER_ON');
    const id = store.byName('n1')!.cfg.id;
    store.update(id, {physState: 'POWER_OFF'}, {merge: true});
    assert.is(store.get(id)!.cfg.arch, 'amd64', 'merge keeps omitted fields');
  } finally {
    store.close();
    rmSync(dir, {recursive: true, force: true});
  }
});

test.run();
