/**
 * Every error speaks the catalogue's form (docs/errors.md): `Error [LC_ERR_...]: message` and a
 * "Try this:" line on stderr, or `{error: {code, message, hint}}` with --json, and the catalogue's exit
 * code: oclif's own errors (unknown command, unknown flag, missing argument), an invalid sync setting,
 * the demo's port in use, and system errors such as ENOSPC.
 */
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import {createServer, type AddressInfo, type Server} from 'node:net';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {toCliError, CliError} from '../../src/cli/errors.js';
import {ERRORS} from '../../src/model/errors.js';
import {sandbox} from '../support/cli.js';

const box = sandbox('lc-errors-');
test.after(() => box.cleanup());

const FORM = /^Error \[(LC_ERR_[A-Z_]+)\]: .+\n {2}Try this: .+\n$/;

/**
 * Runs ARGS without and with --json and checks both forms; returns the human run. A client command's two
 * runs are independent and go at once; a daemon's go one after the other (each creates its state files).
 */
async function expectError(args: string[], code: keyof typeof ERRORS, message: RegExp, opts: {oneAtATime?: boolean} = {}) {
  const both = [args, [...args, '--json']];
  const [human, json] = opts.oneAtATime ? [await box.run(both[0]), await box.run(both[1])] : await Promise.all(both.map((a) => box.run(a)));
  assert.is(human.code, ERRORS[code].exit, `${args.join(' ')}: exit\n${human.stderr}`);
  assert.match(human.stderr, FORM, `${args.join(' ')}: one line and a hint:\n${human.stderr}`);
  assert.is(FORM.exec(human.stderr)![1], code);
  assert.match(human.stderr, message);
  assert.not.match(human.stderr, /^USAGE|LC_ERR_INTERNAL/m);
  assert.is(json.code, ERRORS[code].exit, `${args.join(' ')} --json: exit`);
  assert.is(json.json?.error?.code, code, json.stdout);
  assert.match(json.json.error.message, message);
  assert.type(json.json.error.hint, 'string');
  return human;
}

test('an unknown command: LC_ERR_UNKNOWN_COMMAND, exit 2, the topic\'s commands as the hint', async () => {
  await expectError(['nosuch'], 'LC_ERR_UNKNOWN_COMMAND', /no command "nosuch"/);
  const typo = await expectError(['node', 'lsit'], 'LC_ERR_UNKNOWN_COMMAND', /no command "node lsit"/);
  assert.match(typo.stderr, /Try this: did you mean one of: .*node list/);
});

test('an unknown flag or extra argument: LC_ERR_UNKNOWN_FLAG, exit 2', async () => {
  const bogus = await expectError(['node', 'list', '--bogus'], 'LC_ERR_UNKNOWN_FLAG', /Nonexistent flag: --bogus/);
  assert.match(bogus.stderr, /Try this: see `layercake node list --help`/);
});

test('a missing argument or a bad flag value: LC_ERR_USAGE, exit 2', async () => {
  await expectError(['node', 'show'], 'LC_ERR_USAGE', /missing argument NODE/);
  await expectError(['node', 'list', '--type', 'nope'], 'LC_ERR_USAGE', /--type/);
});

test('an invalid sync setting: LC_ERR_SYNC_CONFIG naming the setting, before anything starts', async () => {
  const config = box.write('sync-bad.yaml', {stateDir: 'sync-state', listen: '127.0.0.1:0', sync: {helloInterval: '10s', deadInterval: '5s'}});
  await expectError(['daemon', '--config', config], 'LC_ERR_SYNC_CONFIG', /config sync\.deadInterval: must be at least twice helloInterval/, {oneAtATime: true});
  assert.not.ok(existsSync(join(box.dir, 'sync-state')), 'no state dir was made');
});

test('a damaged store: LC_ERR_STORE_DAMAGED naming the file and the offset, and the daemon does not start', async () => {
  const stateDir = join(box.dir, 'damaged-state');
  mkdirSync(join(stateDir, 'store'), {recursive: true});
  const journal = join(stateDir, 'store', 'cfg.journal');
  writeFileSync(journal, 'this is not a record\n{"seq":2,"put":[]}\n');
  const config = box.write('damaged.yaml', {stateDir, listen: '127.0.0.1:0'});
  await expectError(['daemon', '--config', config], 'LC_ERR_STORE_DAMAGED', new RegExp(`the state store is damaged: ${journal.replaceAll('.', '\\.')} at byte 0`), {oneAtATime: true});
  assert.is(readFileSync(journal, 'utf8'), 'this is not a record\n{"seq":2,"put":[]}\n', 'the journal is left as it was');
});

test('the demo\'s port in use: LC_ERR_LISTEN_EADDRINUSE naming the address', async () => {
  const holder: Server = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const port = (holder.address() as AddressInfo).port;
  try {
    await expectError(['demo', '--nodes', '1', '--exit', '--listen', `127.0.0.1:${port}`], 'LC_ERR_LISTEN_EADDRINUSE', new RegExp(`127\\.0\\.0\\.1:${port} is in use`), {oneAtATime: true});
  } finally {
    holder.close();
  }
});

test('ENOSPC anywhere: LC_ERR_DISK_FULL with what to do, not LC_ERR_INTERNAL', () => {
  let error: unknown;
  try {
    writeFileSync('/dev/full', 'x'); // the kernel's always-full device
  } catch (e) {
    error = e;
  }
  assert.is((error as NodeJS.ErrnoException)?.code, 'ENOSPC');
  const cli = toCliError(error) as CliError;
  assert.is(cli.code, 'LC_ERR_DISK_FULL');
  assert.match(cli.message, /no space left/);
  assert.is(cli.hint, ERRORS.LC_ERR_DISK_FULL.next);
});

test.run();
