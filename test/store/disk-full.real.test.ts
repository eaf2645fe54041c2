/**
 * A full disk, for real: the state dir on a small tmpfs this test mounts (root only), filled up by a file.
 * A write that does not fit fails with LC_ERR_STORE_FULL (HTTP 507 through the daemon's API and CLI),
 * changes nothing in memory or on disk (no partial record), reads keep working, and once space returns
 * writes succeed again and a restart finds every acknowledged write and nothing else.
 */
import {execFileSync} from 'node:child_process';
import {closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {LayercakeError} from '../../src/model/errors.js';
import {Registry} from '../../src/model/registry.js';
import {Store} from '../../src/store/store.js';
import {isolatedConfig, sandbox} from '../support/cli.js';

/** Mounts a tmpfs of `size` on a new directory; undefined (and the reason) when this process cannot. */
function mountTmpfs(size: string): {dir: string; unmount(): void} | string {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  const dir = mkdtempSync(join(tmpdir(), 'lc-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], {stdio: 'pipe'});
  } catch (error) {
    rmSync(dir, {recursive: true, force: true});
    return `cannot mount a tmpfs: ${String((error as {stderr?: Buffer}).stderr ?? error).trim()}`;
  }
  return {dir, unmount: () => (execFileSync('umount', [dir]), rmSync(dir, {recursive: true, force: true}))};
}

/** Fills the file system of `dir` with a file until it has no free page left; returns the file's path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  try {
    for (const size of [65536, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 0x2e);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

/** A batch far larger than the free bytes left in the journal's last page. */
const batch = (prefix: string, n = 200) => Array.from({length: n}, (_, i) => ({nodename: `${prefix}${i}`, arch: 'amd64', extensions: {ipv4: {ip: `10.1.${i >> 8}.${i & 255}`}}}));
const names = (store: Store) => store.list().map((v) => v.cfg.nodename).sort();

const mount = mountTmpfs('1m');
if (typeof mount === 'string') {
  console.log(`SKIP: ${mount}`);
  test.skip('a full disk refuses writes with LC_ERR_STORE_FULL and loses nothing', () => {});
} else {
  test.after(() => mount.unmount());

  test('store: a write that does not fit fails whole, leaves no partial record, and nothing acknowledged is lost', () => {
    const dir = join(mount.dir, 'store');
    const store = Store.open({dir, registry: new Registry()});
    const acked: string[] = [];
    try {
      for (const name of ['a', 'b']) {
        store.apply([{nodename: name}]);
        acked.push(name);
      }
      const filler = fill(mount.dir);
      const journalBytes = statSync(join(dir, 'cfg.journal')).size;
      const seq = store.sequence;
      try {
        store.apply(batch('big'));
        assert.unreachable('a write larger than the free space was acknowledged');
      } catch (error) {
        assert.instance(error, LayercakeError);
        const e = error as LayercakeError;
        assert.is(e.code, 'LC_ERR_STORE_FULL');
        assert.is(e.status, 507);
        assert.match(e.message, /out of disk space \(ENOSPC writing .*cfg\.journal\): the write was refused and nothing was changed/);
        assert.match(String(e.detail.hint), /free space on the file system that holds .*reads keep working/);
      }
      assert.is(statSync(join(dir, 'cfg.journal')).size, journalBytes, 'no partial record left in the journal');
      assert.is(store.sequence, seq);
      assert.equal(names(store), acked, 'nothing changed in memory; reads keep working');
      unlinkSync(filler);
      store.apply(batch('big', 3));
      acked.push('big0', 'big1', 'big2');
      store.apply([{nodename: 'c'}]);
      acked.push('c');
    } finally {
      store.close();
      rmSync(join(mount.dir, 'filler'), {force: true});
    }
    const reopened = Store.open({dir, registry: new Registry()});
    assert.equal(names(reopened), acked.sort(), 'every acknowledged write, and nothing else');
    reopened.close();
    rmSync(dir, {recursive: true, force: true});
  });

  test('store: a fold into the snapshot that finds the disk full loses nothing, is logged, and is retried', () => {
    const dir = join(mount.dir, 'fold');
    const warnings: string[] = [];
    const store = Store.open({dir, registry: new Registry(), compactAfter: 3, warn: (m) => warnings.push(m)});
    try {
      store.apply([{nodename: 'a'}]);
      store.apply([{nodename: 'b'}]);
      fill(mount.dir);
      store.apply([{nodename: 'c'}]); // fits in the journal's last page; the snapshot it triggers does not
      assert.is(warnings.length, 1, 'the failed fold is logged');
      assert.match(warnings[0], /could not fold the journal into the snapshot \(the state store is out of disk space \(ENOSPC writing .*cfg\.snapshot\).*every write is still in the journal, retrying after 1 more records/);
      assert.not.ok(existsSync(join(dir, 'cfg.snapshot.tmp')), 'no partial snapshot left');
      assert.not.ok(existsSync(join(dir, 'cfg.snapshot')));
      rmSync(join(mount.dir, 'filler'));
      store.apply([{nodename: 'd'}]);
      assert.ok(existsSync(join(dir, 'cfg.snapshot')), 'the fold was retried once space returned');
      assert.is(statSync(join(dir, 'cfg.journal')).size, 0);
    } finally {
      store.close();
      rmSync(join(mount.dir, 'filler'), {force: true});
    }
    const reopened = Store.open({dir, registry: new Registry()});
    assert.equal(names(reopened), ['a', 'b', 'c', 'd']);
    reopened.close();
    rmSync(dir, {recursive: true, force: true});
  });

  test('daemon: the API answers 507 LC_ERR_STORE_FULL with what to do, the CLI says so, and a restart loses nothing', async () => {
    const box = sandbox('lc-full-');
    const stateDir = join(mount.dir, 'state');
    try {
      await isolatedConfig(box);
      let daemon = await box.startDaemon({args: ['--listen', '127.0.0.1:0', '--state-dir', stateDir]});
      const post = (nodes: unknown[]) => daemon.api(`/api/v1/apply`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({nodes})});
      assert.is((await post([{nodename: 'before'}])).status, 200);
      const filler = fill(mount.dir);

      const refused = await post(batch('big'));
      assert.is(refused.status, 507);
      const body = await refused.json() as {error: {code: string; message: string; hint: string}};
      assert.is(body.error.code, 'LC_ERR_STORE_FULL');
      assert.match(body.error.message, /out of disk space .* nothing was changed/);
      assert.match(body.error.hint, /free space on the file system .* then retry/);
      box.write('more.yaml', {nodes: batch('cli', 100)});
      const cli = await box.run(['apply', '-f', 'more.yaml', '--url', daemon.url, '--token', readFileSync(join(stateDir, 'token'), 'utf8').trim()]);
      assert.is(cli.code, 1);
      assert.match(cli.stderr, /\[LC_ERR_STORE_FULL\]: the state store is out of disk space/);
      assert.match(cli.stderr, /Try this: free space on the file system/);

      const list = await daemon.api(`/api/v1/nodes`);
      assert.is(list.status, 200, 'reads keep working');
      const listed = ((await list.json()) as {nodes: {cfg: {nodename: string}}[]}).nodes.map((v) => v.cfg.nodename);
      assert.ok(listed.includes('before') && !listed.some((n) => /^(big|cli)/.test(n)), `nothing refused is there: ${listed.join(',')}`);

      unlinkSync(filler);
      assert.is((await post([{nodename: 'after'}])).status, 200, 'writes succeed once space returns');
      assert.is(await daemon.stop(), 0);
      daemon = await box.startDaemon({args: ['--listen', '127.0.0.1:0', '--state-dir', stateDir]});
      const after = ((await (await daemon.api(`/api/v1/nodes`)).json()) as {nodes: {cfg: {nodename: string}}[]}).nodes.map((v) => v.cfg.nodename);
      assert.ok(after.includes('before') && after.includes('after'), 'every acknowledged write after a restart');
      assert.not.ok(after.some((n) => /^(big|cli)/.test(n)), 'and nothing refused');
    } finally {
      rmSync(join(mount.dir, 'filler'), {force: true});
      await box.cleanup();
    }
  });
}

test.run();
