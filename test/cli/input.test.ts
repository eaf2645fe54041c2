import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {parse} from 'yaml';
import {writeInitFiles} from '../../src/cli/init.js';
import {isAssignment, parseAssignments} from '../../src/cli/assignments.js';
import {checkUnique, parseNodesDocument} from '../../src/cli/input.js';
import {CliError} from '../../src/cli/errors.js';
import {editableFields, parseFieldValue} from '../../src/cli/node-editor.js';
import {CORE_ENUMS} from '../../src/model/node.js';

test('node documents: a list, {nodes: [...]}, one node, YAML or JSON', () => {
  assert.equal(parseNodesDocument('- nodename: n01\n- nodename: n02\n', 'f'), [{nodename: 'n01'}, {nodename: 'n02'}]);
  assert.equal(parseNodesDocument('nodes:\n  - nodename: n01\n', 'f'), [{nodename: 'n01'}]);
  assert.equal(parseNodesDocument('{"nodes": [{"nodename": "n01"}]}', 'f'), [{nodename: 'n01'}]);
  assert.equal(parseNodesDocument('nodename: n01\narch: amd64\n', 'f'), [{nodename: 'n01', arch: 'amd64'}]);
});

const badDocs: [string, RegExp][] = [
  ['nodes:\n  - nodename: n01\n    arch: [amd64\n', /^f: not valid YAML or JSON at line \d+, column \d+: /],
  ['{"nodes": [', /not valid YAML or JSON at line 1/],
  ['a: 1\na: 2\n', /line 2, column 1: Map keys must be unique/],
  ['', /f is empty/],
  ['nodes: 5\n', /"nodes" must be a list/],
  ['42\n', /expected a list of nodes/],
];
for (const [text, message] of badDocs) {
  test(`a bad node document fails with its line: ${JSON.stringify(text)}`, () => {
    assert.throws(() => parseNodesDocument(text, 'f'), message);
  });
}

test('assignments: = is a string, := is JSON', () => {
  assert.equal(parseAssignments(['physState=POWER_ON', 'arch=', 'ipv4.prefix:=24', 'ipv4.dns:=["10.0.0.1"]', 'x=a=b', 'y:=null']), {
    physState: 'POWER_ON', arch: '', 'ipv4.prefix': 24, 'ipv4.dns': ['10.0.0.1'], x: 'a=b', y: null,
  });
  assert.throws(() => parseAssignments(['ipv4.prefix:=twenty']), /not JSON/);
  assert.throws(() => parseAssignments(['novalue']), /not an assignment/);
  assert.throws(() => parseAssignments(['ipmi.password:=hunter2']), (e: Error) => /^ipmi\.password: the value after := is not JSON$/.test(e.message), 'the value (maybe a secret) is not echoed');
  assert.ok(isAssignment('pxe.state=WAIT'));
  assert.ok(isAssignment('/extensions/ipv4/prefix:=24'));
  assert.not.ok(isAssignment('n[01-04]'));
  assert.not.ok(isAssignment('n01'));
});

test('the interactive editor offers core and extension fields, with enums, and types what is typed', () => {
  const fields = editableFields([{name: 'pxe', module: 'pxe', description: '', secrets: [], enums: {'/extensions/pxe/state': ['NONE', 'WAIT']},
    jsonSchema: {type: 'object', properties: {state: {type: 'string', enum: ['NONE', 'WAIT']}, retries: {type: 'integer'}, opts: {type: 'object', properties: {fast: {type: 'boolean'}}}}}}], CORE_ENUMS);
  const byPointer = Object.fromEntries(fields.map((f) => [f.pointer, f]));
  assert.equal(byPointer['/physState'].enum?.[0], 'PHYS_UNKNOWN');
  assert.equal(byPointer['/extensions/pxe/state'].enum, ['NONE', 'WAIT']);
  assert.is(byPointer['/extensions/pxe/retries'].type, 'integer');
  assert.is(byPointer['/extensions/pxe/opts/fast'].type, 'boolean');
  assert.equal(parseFieldValue(byPointer['/extensions/pxe/retries'], '3'), {value: 3});
  assert.match(parseFieldValue(byPointer['/extensions/pxe/retries'], '3.5').error!, /integer/);
  assert.equal(parseFieldValue(byPointer['/extensions/pxe/opts/fast'], 'true'), {value: true});
  assert.equal(parseFieldValue(byPointer['/arch'], 'amd64'), {value: 'amd64'});
});

test('init writes a config and a starter cluster file, and will not overwrite them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-init-'));
  try {
    const answers = {dir, listen: '0.0.0.0:3141', stateDir: '/var/lib/layercake', nodes: 'n[01-03]', platform: 'ipmi', arch: 'amd64', powerOn: true, force: false};
    const result = writeInitFiles(answers);
    assert.equal(result.nodes, ['n01', 'n02', 'n03']);
    const config = parse(readFileSync(join(dir, 'layercake.config.yaml'), 'utf8'));
    assert.equal({listen: config.listen, stateDir: config.stateDir, modules: config.modules}, {listen: '0.0.0.0:3141', stateDir: '/var/lib/layercake', modules: {}});
    const cluster = parse(readFileSync(join(dir, 'cluster.yaml'), 'utf8'));
    assert.equal(cluster.nodes[0], {nodename: 'n01', arch: 'amd64', platform: 'ipmi', physState: 'POWER_ON', runState: 'SYNC'});
    assert.throws(() => writeInitFiles(answers), /already exist/);
    writeInitFiles({...answers, force: true, nodes: ''});
    assert.equal(parse(readFileSync(join(dir, 'cluster.yaml'), 'utf8')).nodes, []);
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

test('a node named twice in one input (by nodename or id) is bad input, exit 2', () => {
  for (const nodes of [[{nodename: 'n05'}, {nodename: 'n06'}, {nodename: 'n05'}], [{id: 'a'}, {nodename: 'n06'}, {id: 'a', nodename: 'n07'}]]) {
    try {
      checkUnique(nodes, 'c.yaml');
      assert.unreachable('a duplicate must be refused');
    } catch (e) {
      assert.instance(e, CliError);
      assert.is((e as CliError).code, 'LC_ERR_INPUT_DUPLICATE');
      assert.is((e as CliError).oclif.exit, 2);
      assert.match((e as CliError).message, /^c\.yaml: (node n05|id a) appears twice \(items 1 and 3\)$/);
    }
  }
  checkUnique([{nodename: 'n05'}, {nodename: 'n06'}, {id: 'x'}], 'c.yaml'); // distinct: fine
});

test.run();
