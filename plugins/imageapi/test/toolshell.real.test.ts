/**
 * ToolShell (the service's tools run through one resident /bin/sh): stdout back, a failure as a
 * ToolError with the tool's stderr and exit status, arguments passed exactly (quotes, spaces, $, an
 * argument with a newline), commands one after another in call order, one shell for many commands, and
 * a command that outlives its timeout taking the shell with it while the next command gets a new one.
 * Real-parts tier: it runs /bin/sh and coreutils.
 */
import {mkdtempSync, rmSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {ToolError} from '../src/service/exec.js';
import {ToolShell} from '../src/service/toolshell.js';
import {which} from '../src/service/exec.js';

const work = mkdtempSync('/tmp/lc-toolshell-');
const shell = new ToolShell(join(work, 'tools'));
const tool = (name: string) => which(name)!;

test.after(() => {
  shell.close();
  rmSync(work, {recursive: true, force: true});
});

test('returns the stdout of a tool', async () => {
  assert.is(await shell.run(tool('echo'), ['hello', 'world']), 'hello world\n');
});

test('passes arguments exactly, quotes, spaces, $ and a newline included', async () => {
  const args = ["it's", 'a b', '$HOME', '`id`', '"x"', 'line1\nline2', ''];
  const out = await shell.run(tool('printf'), ['%s|', ...args]);
  assert.is(out, `${args.join('|')}|`);
});

test('a failing tool is a ToolError with its exit status and stderr', async () => {
  const error = await shell.run(tool('ls'), [join(work, 'nothing here')]).catch((e: unknown) => e);
  assert.instance(error, ToolError);
  assert.is((error as ToolError).code, 2);
  assert.match((error as ToolError).stderr, /nothing here/);
  assert.match((error as ToolError).message, /^\S*ls .*nothing here/);
});

test('commands run one after another, in call order, in one shell', async () => {
  const order: number[] = [];
  await Promise.all([1, 2, 3, 4, 5].map((k) => shell.run(tool('sh'), ['-c', 'echo $PPID']).then((ppid) => {
    order.push(k);
    return ppid;
  }).then((ppid) => assert.ok(Number(ppid) > 0))));
  assert.equal(order, [1, 2, 3, 4, 5]);
  const parents = new Set(await Promise.all([1, 2, 3].map(() => shell.run(tool('sh'), ['-c', 'echo $PPID']))));
  assert.is(parents.size, 1, 'every tool is a child of the same resident shell');
});

test('a command past its timeout fails, and the next one runs in a new shell', async () => {
  const before = await shell.run(tool('sh'), ['-c', 'echo $PPID']);
  const error = await shell.run(tool('sleep'), ['30'], 200).catch((e: unknown) => e);
  assert.instance(error, ToolError);
  assert.match((error as ToolError).message, /timed out after 200 ms/);
  const after = await shell.run(tool('sh'), ['-c', 'echo $PPID']);
  assert.is.not(after, before);
  assert.is(await shell.run(tool('echo'), ['still works']), 'still works\n');
});

test.run();
