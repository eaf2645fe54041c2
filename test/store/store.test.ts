import {spawn} from 'node:child_process';
import {appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {Registry} from '../../src/model/registry.js';
import {Store} from '../../src/store/store.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'lc-store-'));

/** Runs the writer until it has acknowledged a few writes, then kills it with SIGKILL mid-loop. */
function writeAndKill(dir: string, start: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', new URL('./writer.ts', import.meta.url).pathname, dir, String(start)], {stdio: ['ignore', 'pipe', 'inherit']});
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

test('a torn last line is cut off; damage in the middle refuses to open', () => {
  const dir = tmp();
  try {
    const s1 = Store.open({dir, registry: new Registry()});
    s1.apply([{nodename: 'a'}]);
    s1.apply([{nodename: 'b'}]);
    s1.close();
    appendFileSync(join(dir, 'cfg.journal'), '0123456789ab {"seq":3,"put":[{"id":');
    const s2 = Store.open({dir, registry: new Registry()});
    assert.is(s2.size, 2);
    s2.close();
    const lines = readFileSync(join(dir, 'cfg.journal'), 'utf8').split('\n');
    lines[0] = lines[0].replace('"a"', '"x"');
    writeFileSync(join(dir, 'cfg.journal'), lines.join('\n'));
    assert.throws(() => Store.open({dir, registry: new Registry()}), /damaged at byte 0/);
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
