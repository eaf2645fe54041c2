/**
 * The real CLI against a real daemon process on an ephemeral port: apply → list → set → why → delete,
 * a restart that finds the cfg intact, and a table of bad inputs that each fail clearly, exit non-zero
 * and change nothing.
 */
import {createServer, type AddressInfo} from 'node:net';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {type DaemonProcess, isolatedConfig, sandbox} from '../support/cli.js';

const box = sandbox('lc-e2e-');
let daemon: DaemonProcess;
test.after(() => box.cleanup());

const lc = async (args: string[], opts: {input?: string} = {}) => box.run(args, {...opts, env: {LAYERCAKE_URL: daemon.url}});
const ok = async (args: string[], opts: {input?: string} = {}) => {
  const r = await lc(args, opts);
  assert.is(r.code, 0, `layercake ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r;
};
const cfgSnapshot = async () => JSON.stringify((await ok(['node', 'list', '--type', 'cfg', '--json'])).json.nodes);

test('start a daemon with the bundled modules disabled', async () => {
  await isolatedConfig(box);
  daemon = await box.startDaemon({args: ['--listen', '127.0.0.1:0']});
  assert.match(daemon.listen, /^127\.0\.0\.1:\d+$/);
});

test('apply → list → set → why → delete', async () => {
  box.write('cluster.yaml', {nodes: [
    {nodename: 'n02', arch: 'amd64'},
    {nodename: 'n01', arch: 'amd64', extensions: {ipv4: {ip: '10.0.0.1'}}},
    {nodename: 'n10', arch: 'amd64'},
  ]});
  const dry = await ok(['apply', '-f', 'cluster.yaml', '--dry-run']);
  assert.match(dry.stdout, /\+ n01 created/);
  assert.match(dry.stdout, /3 created \(dry run: nothing was changed\)/);
  assert.is((await ok(['node', 'list', '--json'])).json.nodes.length, 1, 'only the daemon\'s own node');

  const applied = await ok(['apply', '-f', 'cluster.yaml', '--json']);
  assert.is(applied.json.created.length, 3);
  assert.is(applied.json.dryRun, false);
  const again = await ok(['apply', '-f', 'cluster.yaml']);
  assert.match(again.stdout, /3 unchanged/);

  const [list, cols] = await Promise.all([ok(['node', 'list']), ok(['node', 'list', 'n[01-02]', '--columns', 'nodename,ipv4.ip', '--type', 'cfg'])]);
  const rows = list.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]);
  assert.equal(rows.slice(2), ['n01', 'n02', 'n10'], 'parent first, then natural order');
  assert.match(list.stdout, /NODE\s+ID\s+PARENT\s+physState\s+runState\s+STATUS/);
  assert.match(cols.stdout, /n01\s+10\.0\.0\.1/);
  assert.not.match(cols.stdout, /n10/);

  const set = await ok(['node', 'set', 'n[01-02]', 'arch=arm64', 'ipv4.prefix:=16', '--json']);
  assert.equal(set.json.changes.map((c: any) => `${c.nodename} ${c.url} ${c.value}`).sort(), [
    'n01 /arch arm64', 'n01 /extensions/ipv4/prefix 16', 'n02 /arch arm64', 'n02 /extensions/ipv4 [object Object]',
  ]);
  // Reads only: at once.
  const [show, why, whyJson, history] = await Promise.all([
    ['node', 'show', 'n01', '--json'], ['node', 'why', 'n01'], ['node', 'why', 'n01', '--json'], ['node', 'history', 'n01', '--json'],
  ].map((args) => ok(args)));
  assert.is(show.json.cfg.arch, 'arm64');
  assert.match(why.stdout, /n01 has converged/);
  assert.is(whyJson.json.nodename, 'n01');
  assert.ok(history.json.entries.some((e: any) => e.url === '/arch' && e.value === 'arm64'));

  const deleted = await ok(['node', 'delete', 'n10', '--yes', '--json']);
  assert.equal(deleted.json.deleted.map((n: any) => n.nodename), ['n10']);
  const refused = await lc(['node', 'delete', 'n02']);
  assert.is(refused.code, 2, 'off a terminal, deleting needs --yes');
  assert.match(refused.stderr, /--yes/);
});

test('a restarted daemon has the cfg intact', async () => {
  const before = await cfgSnapshot();
  assert.is(await daemon.stop(), 0, 'clean exit on SIGTERM');
  daemon = await box.startDaemon({args: ['--listen', '127.0.0.1:0']});
  const after = await cfgSnapshot();
  assert.is(after, before);
  assert.equal(JSON.parse(after).map((n: any) => n.nodename).slice(1), ['n01', 'n02']);
});

test('the commands that read engine and registry answer', async () => {
  assert.match((await ok(['engine', 'status'])).stdout, /engine: RUN/);
  assert.is((await ok(['engine', 'freeze', '--json'])).json.frozen, true);
  assert.match((await ok(['node', 'why', 'n01'])).stdout, /converged/);
  assert.is((await ok(['engine', 'thaw', '--json'])).json.frozen, false);
  // These only read (power off --dry-run too), so they run at once.
  const [mutations, extensions, graph, power, dry] = await Promise.all([
    ['mutations', '--json'], ['extensions', '--json'], ['graph', '--format', 'dot'], ['power', 'status', '--json'], ['power', 'off', 'n01', '--dry-run', '--json'],
  ].map((args) => ok(args)));
  assert.ok(Array.isArray(mutations.json.mutations));
  assert.ok(extensions.json.extensions.some((e: any) => e.name === 'ipv4'));
  assert.match(graph.stdout, /^digraph/);
  assert.is(power.json.nodes.length, 3);
  assert.equal(dry.json.changes.map((c: any) => [c.url, c.value]), [['/physState', 'POWER_OFF']]);
});

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const {port} = s.address() as AddressInfo;
    s.close(() => resolve(port));
  });
});

test('bad input: a clear error, a non-zero exit, and nothing changed', async () => {
  box.write('bad-syntax.yaml', 'nodes:\n  - nodename: n05\n    arch: [amd64\n');
  box.write('bad-extension.yaml', {nodes: [{nodename: 'n05'}, {nodename: 'n06', extensions: {nope: {x: 1}}}]});
  box.write('bad-enum.yaml', [{nodename: 'n05', physState: 'ON'}]);
  box.write('duplicate.yaml', [{nodename: 'n05'}, {nodename: 'n05'}]);
  box.write('bad-field.yaml', [{nodename: 'n05', colour: 'red'}]);
  const closed = await freePort();
  const before = await cfgSnapshot();
  const cases: [string, string[], RegExp, string?][] = [
    ['malformed YAML', ['apply', '-f', 'bad-syntax.yaml'], /bad-syntax\.yaml: not valid YAML or JSON at line \d+, column \d+/],
    ['unknown extension', ['apply', '-f', 'bad-extension.yaml'], /node n06: \/extensions\/nope: unknown extension/],
    ['wrong enum in a file', ['apply', '-f', 'bad-enum.yaml'], /node n05: \/physState: expected one of PHYS_UNKNOWN, POWER_OFF, POWER_ON/],
    ['wrong enum on the command line', ['node', 'set', 'n01', 'physState=ON'], /\/physState: expected one of .*got "ON"/],
    ['unknown field', ['apply', '-f', 'bad-field.yaml'], /unknown field colour/],
    ['duplicate nodename in a file', ['apply', '-f', 'duplicate.yaml'], /^Error \[LC_ERR_INPUT_DUPLICATE\]: duplicate\.yaml: node n05 appears twice \(items 1 and 2\)/],
    ['creating a node that exists', ['node', 'create', 'n01'], /n01: already exists/],
    ['unknown node in a hostlist', ['node', 'set', 'n[01-04]', 'arch=x86'], /no node n\[03-04\] \(in n\[01-04\]\)/],
    ['a broken hostlist', ['node', 'set', 'n[01-', 'arch=x86'], /invalid hostlist 'n\[01-'/],
    ['no targets', ['power', 'on'], /no nodes given/],
    ['no values, off a terminal', ['node', 'set', 'n01'], /no values to set/],
    ['a word that is neither a node nor an assignment', ['node', 'set', 'n01', 'arch'], /no node arch/],
    ['a missing file', ['apply', '-f', 'nope.yaml'], /cannot read nope\.yaml: no such file/],
    ['no daemon there', ['node', 'list', '--url', `127.0.0.1:${closed}`], /cannot reach the layercake daemon at http:\/\/127\.0\.0\.1:\d+ \(connection refused.*\n {2}Try this: start one with `layercake daemon`/],
  ];
  // The cases are independent and change nothing, so they run a few at a time.
  const results: Awaited<ReturnType<typeof lc>>[] = [];
  for (let i = 0; i < cases.length; i += 4) results.push(...await Promise.all(cases.slice(i, i + 4).map(([, args]) => lc(args))));
  for (const [i, [label, , message]] of cases.entries()) {
    const r = results[i];
    assert.ok(r.code !== 0, `${label}: exit code ${r.code}`);
    assert.match(r.stderr, message, `${label}: ${r.stderr}`);
    assert.match(r.stderr, /^Error \[[A-Z_]+\]: .+\n {2}Try this: .+\n$/, `${label}: one line with a code, then a next step: ${r.stderr}`);
  }
  assert.is(results[cases.findIndex(([label]) => label.startsWith('duplicate'))].code, 2, 'a duplicate node is bad input: exit 2 (docs/cli.md)');
  const json = await lc(['apply', '-f', 'bad-enum.yaml', '--json']);
  assert.is(json.code, 2);
  assert.is(json.json.error.code, 'LC_ERR_INPUT_INVALID');
  assert.is(json.json.error.node, 'n05');
  assert.is(json.json.error.url, '/physState');
  assert.is(json.json.error.value, 'ON');
  assert.is(await cfgSnapshot(), before, 'the cfg is unchanged');
});

test('apply --prune previews deletions and asks before making them', async () => {
  box.write('only-n01.yaml', [{nodename: 'n01'}]);
  const dry = await ok(['apply', '-f', 'only-n01.yaml', '--prune', '--dry-run']);
  assert.match(dry.stdout, /- n02 deleted/);
  assert.match(dry.stdout, /1 deleted, 1 unchanged \(dry run/);
  const refused = await lc(['apply', '-f', 'only-n01.yaml', '--prune']);
  assert.is(refused.code, 2);
  assert.match(refused.stderr, /Delete 1 node not in only-n01\.yaml \(n02\): refusing without confirmation/);
  const pruned = await ok(['apply', '-f', 'only-n01.yaml', '--prune', '--yes', '--json']);
  assert.equal(pruned.json.deleted.map((n: any) => n.nodename), ['n02']);
  assert.equal((await ok(['node', 'list', '--json'])).json.nodes.map((v: any) => v.cfg.nodename).slice(1), ['n01']);
});

test.run();
