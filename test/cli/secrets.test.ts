/**
 * No secret echoed by the CLI (issue 14 point 8): a rejected join secret, in a file given to `apply` or
 * in `node set`, is named by its path and the reason, never shown, with and without --json; nothing changes.
 */
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {type DaemonProcess, isolatedConfig, sandbox} from '../support/cli.js';

const box = sandbox('lc-secrets-');
let daemon: DaemonProcess;
const SECRET = 'not-hex-hunter2-secret';
test.after(async () => {
  await box.cleanup();
});

test('apply and node set refuse a bad join secret without echoing it', async () => {
  await isolatedConfig(box, {keep: ['sync']});
  daemon = await box.startDaemon({args: ['--listen', '127.0.0.1:0']});
  assert.ok(daemon.listen);
  assert.is((await box.run(['node', 'create', 'n01'])).code, 0);
  const before = (await box.run(['node', 'list', '--type', 'cfg', '--json'])).stdout;
  const file = box.write('bad.yaml', [{nodename: 'n01', extensions: {sync: {joinSecret: SECRET}}}]);
  const runs = [
    ['apply', '-f', file],
    ['apply', '-f', file, '--json'],
    ['node', 'set', 'n01', `sync.joinSecret=${SECRET}`],
    ['node', 'set', 'n01', `sync.joinSecret=${SECRET}`, '--json'],
    ['node', 'set', 'n01', `sync.joinSecret:=${SECRET}`],
  ];
  // Each is refused and changes nothing, so they run at once.
  const results = await Promise.all(runs.map((args) => box.run(args)));
  for (const [i, args] of runs.entries()) {
    const r = results[i];
    assert.is.not(r.code, 0, args.join(' '));
    assert.match(r.stdout + r.stderr, /joinSecret/, `the path is named: ${r.stdout}${r.stderr}`);
    assert.not.match(r.stdout + r.stderr, /hunter2/, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  }
  assert.is((await box.run(['node', 'list', '--type', 'cfg', '--json'])).stdout, before, 'nothing changed');
});

test.run();
