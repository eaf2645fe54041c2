/**
 * The state dir through the real CLI and daemon processes: start-up refuses a damaged state dir (naming
 * the file, the byte and what to do, changing nothing), `store check` finds the same damage offline, and
 * `store backup` taken while a client writes restores (`store restore`) into a daemon holding exactly the
 * writes up to the backup's sequence number.
 */
import {cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {isolatedConfig, sandbox} from '../support/cli.js';

const box = sandbox('lc-store-tools-');
test.after(() => box.cleanup());
test.before(() => isolatedConfig(box).then(() => undefined));

/** Every file under a directory with its bytes (a directory as a marker), to check that nothing changed. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) Object.assign(out, {[`${name}/`]: 'dir'}, ...Object.entries(tree(path)).map(([k, v]) => ({[`${name}/${k}`]: v})));
    else out[name] = readFileSync(path).toString('base64');
  }
  return out;
}

/** A state dir written by a real daemon: its own node and three more, then stopped. */
async function writeStateDir(dir: string): Promise<string> {
  const daemon = await box.startDaemon({args: ['--listen', '127.0.0.1:0', '--state-dir', dir]});
  for (const nodename of ['n1', 'n2', 'n3']) {
    const r = await daemon.api(`/api/v1/nodes`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({nodename})});
    assert.is(r.status, 201);
  }
  assert.is(await daemon.stop(), 0, `exit by signal or error:\n${daemon.output().slice(-1500)}`);
  return dir;
}

let written: Promise<string> | undefined;
/** A copy of one such state dir, written once for the file (each case damages its own copy). */
async function stateDirWithNodes(name: string): Promise<string> {
  written ??= writeStateDir(join(box.dir, 'written'));
  const dir = join(box.dir, name);
  cpSync(await written, dir, {recursive: true});
  return dir;
}

const startRefused = async (dir: string) => {
  const before = tree(join(dir, '..'));
  const r = await box.run(['daemon', '--listen', '127.0.0.1:0', '--state-dir', dir]);
  assert.is(r.code, 1, `the daemon started:\n${r.stdout}\n${r.stderr}`);
  assert.equal(tree(join(dir, '..')), before, 'nothing changed');
  return r.stderr;
};

test('a state dir that is a file, an empty token, an unreadable or wrong id file: each refuses the start, naming it', async () => {
  const parent = join(box.dir, 'bad');
  mkdirSync(parent);
  writeFileSync(join(parent, 'file'), 'x');
  assert.match(await startRefused(join(parent, 'file')), /\[LC_ERR_STATE_DIR\]: .*bad\/file is not a directory.*\n {2}Try this: move the file aside or choose another --state-dir/);

  const dir = await stateDirWithNodes('tokens');
  writeFileSync(join(dir, 'token'), '\n');
  assert.match(await startRefused(dir), /\[LC_ERR_STATE_DIR\]: the token file .*tokens\/token is empty\n {2}Try this: delete it to have a new API token made/);
  writeFileSync(join(dir, 'token'), 'abcdefghijklmnopqrstuvwx\n');

  const id = readFileSync(join(dir, 'id'));
  writeFileSync(join(dir, 'id'), 'not-a-uuid\n');
  assert.match(await startRefused(dir), /\[LC_ERR_STATE_DIR\]: the id file .*tokens\/id does not hold a UUID\n {2}Try this: write this daemon's node id/);
  writeFileSync(join(dir, 'id'), '');
  assert.match(await startRefused(dir), /the id file .*tokens\/id is empty/);
  rmSync(join(dir, 'id'));
  mkdirSync(join(dir, 'id'));
  assert.match(await startRefused(dir), /\[LC_ERR_STATE_DIR\]: cannot read the id file .*tokens\/id: EISDIR\n {2}Try this: make it a readable file/);
  rmSync(join(dir, 'id'), {recursive: true});
  writeFileSync(join(dir, 'id'), id);
  const check = await box.run(['store', 'check', '--state-dir', dir]);
  assert.is(check.code, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /tokens: clean\n {2}store: 4 nodes at seq 4/);
});

test('a flipped byte in the journal: the daemon refuses to start naming file, byte and what to do; store check finds it', async () => {
  const dir = await stateDirWithNodes('flipped');
  const journal = join(dir, 'store', 'cfg.journal');
  const data = readFileSync(journal);
  const last = data.lastIndexOf(10, data.length - 2) + 1;
  data[last + 30] ^= 0x01;
  writeFileSync(journal, data);
  const stderr = await startRefused(dir);
  assert.match(stderr, new RegExp(`\\[LC_ERR_STORE_DAMAGED\\]: the state store is damaged: ${journal} at byte ${last}: record 4: checksum mismatch`));
  assert.ok(stderr.includes(`Try this: nothing was changed; \`layercake store check --state-dir ${dir}\` reports the damage; restore a backup with \`layercake store restore BACKUP --state-dir ${dir} --force\``), stderr);

  const check = await box.run(['store', 'check', '--state-dir', dir]);
  assert.is(check.code, 1);
  assert.match(check.stdout, new RegExp(`flipped: DAMAGED\\n  ${journal} at byte ${last}: record 4: checksum mismatch`));
  const json = await box.run(['store', 'check', '--state-dir', dir, '--json']);
  assert.is(json.code, 1);
  assert.equal(json.json.problems.map((p: {file: string; offset: number}) => [p.file, p.offset]), [[journal, last]]);
  assert.is(json.json.ok, false);
});

test('a torn last line: the daemon starts, cuts it, keeps its bytes beside the journal and logs where', async () => {
  const dir = await stateDirWithNodes('torn');
  const journal = join(dir, 'store', 'cfg.journal');
  writeFileSync(journal, Buffer.concat([readFileSync(journal), Buffer.from('0badc0de {"seq":5,"put":[{"nodena')]));
  const check = await box.run(['store', 'check', '--state-dir', dir]);
  assert.is(check.code, 0, 'a torn line is not damage');
  assert.match(check.stdout, /a torn last line of 33 bytes at byte \d+ of .*cfg\.journal: a write that was never acknowledged/);
  const daemon = await box.startDaemon({args: ['--listen', '127.0.0.1:0', '--state-dir', dir]});
  const kept = readdirSync(join(dir, 'store')).filter((f) => f.startsWith('cfg.journal.torn-'));
  assert.is(kept.length, 1);
  assert.is(readFileSync(join(dir, 'store', kept[0]), 'utf8'), '0badc0de {"seq":5,"put":[{"nodena');
  assert.match(daemon.output(), new RegExp(`"level":40.*cut a torn last line of 33 bytes .*kept in ${join(dir, 'store', kept[0])}`));
  const names = ((await (await daemon.api(`/api/v1/nodes`)).json()) as {nodes: {cfg: {nodename: string}}[]}).nodes.map((v) => v.cfg.nodename);
  assert.ok(['n1', 'n2', 'n3'].every((n) => names.includes(n)));
  assert.is(await daemon.stop(), 0, `exit by signal or error:\n${daemon.output().slice(-1500)}`);
});

test('store backup while a client writes, restore into a new state dir: the daemon there has every write up to the backup\'s seq, and its id', async () => {
  const source = join(box.dir, 'live');
  const daemon = await box.startDaemon({args: ['--listen', '127.0.0.1:0', '--state-dir', source]});
  const token = readFileSync(join(source, 'token'), 'utf8').trim();
  const selfId = readFileSync(join(source, 'id'), 'utf8').trim();
  const unauthorized = await fetch(`${daemon.url}/api/v1/store/backup`);
  assert.is(unauthorized.status, 401, 'a backup holds secrets: it needs the token even on loopback');

  let written = 0, stop = false, ackedBeforeBackup = -1;
  const writer = (async () => {
    for (; !stop; written++) {
      const r = await daemon.api(`/api/v1/nodes`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({nodename: `w${written}`})});
      assert.is(r.status, 201);
    }
  })();
  while (written < 20) await new Promise((r) => setImmediate(r));
  ackedBeforeBackup = written;
  const file = join(box.dir, 'live.lcbak');
  const backup = await box.run(['store', 'backup', file, '--url', daemon.url, '--token', token, '--json']);
  stop = true;
  await writer;
  assert.is(backup.code, 0, backup.stdout + backup.stderr);
  assert.is((statSync(file).mode & 0o777), 0o600, 'the backup holds secrets: mode 0600');
  const {seq, nodes} = backup.json as {seq: number; nodes: number};
  assert.ok(written > ackedBeforeBackup, 'the client kept writing during the backup');
  assert.is(nodes, seq, 'one node per write (the own node was write 1)');
  assert.ok(seq - 1 >= ackedBeforeBackup, `every write acknowledged before the backup began is in it (seq ${seq}, ${ackedBeforeBackup} acknowledged)`);
  assert.is((await box.run(['store', 'backup', file, '--url', daemon.url, '--token', token])).code, 1, 'an existing file is not replaced without --force');

  // A damaged backup is refused and changes nothing.
  const damaged = readFileSync(file);
  damaged[100] ^= 0x01;
  const damagedFile = join(box.dir, 'damaged.lcbak');
  writeFileSync(damagedFile, damaged);
  const refused = await box.run(['store', 'restore', damagedFile, '--state-dir', join(box.dir, 'never')]);
  assert.is(refused.code, 1);
  assert.match(refused.stderr, /\[LC_ERR_STORE_DAMAGED\]: .*damaged\.lcbak at byte 0: the snapshot record .* checksum mismatch/);
  assert.not.ok(readdirSync(box.dir).includes('never'), 'nothing was created');

  // A state dir holding a store is refused without --force, and moved aside (not deleted) with it.
  const target = await stateDirWithNodes('restored');
  const before = tree(target);
  const notEmpty = await box.run(['store', 'restore', file, '--state-dir', target]);
  assert.is(notEmpty.code, 1);
  assert.match(notEmpty.stderr, /\[LC_ERR_STORE_NOT_EMPTY\]: .*restored\/store already holds a store .*\n {2}Try this: stop the daemon, then pass --force/);
  assert.equal(tree(target), before, 'nothing changed');
  const restored = await box.run(['store', 'restore', file, '--state-dir', target, '--force']);
  assert.is(restored.code, 0, restored.stdout + restored.stderr);
  assert.match(restored.stdout, new RegExp(`restored ${nodes} nodes at seq ${seq} into ${target}`));
  assert.ok(readdirSync(target).some((f) => f.startsWith('store.replaced-')), 'the old store is kept');
  assert.is((await box.run(['store', 'check', '--state-dir', target])).code, 0);

  const back = await box.startDaemon({args: ['--listen', '127.0.0.1:0', '--state-dir', target]});
  const health = await (await fetch(`${back.url}/healthz`)).json() as {id: string};
  assert.is(health.id, selfId, 'the restored daemon keeps its id');
  const names = ((await (await back.api(`/api/v1/nodes`)).json()) as {nodes: {cfg: {nodename: string}}[]}).nodes.map((v) => v.cfg.nodename).filter((n) => n.startsWith('w'));
  assert.equal(names.sort(), Array.from({length: seq - 1}, (_, i) => `w${i}`).sort(), 'exactly the writes up to the backup\'s seq');
  assert.is(await back.stop(), 0, `exit by signal or error:\n${back.output().slice(-1500)}`);
  assert.is(await daemon.stop(), 0, `exit by signal or error:\n${daemon.output().slice(-1500)}`);
});

test.run();
