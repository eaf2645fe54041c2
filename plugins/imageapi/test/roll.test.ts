/** The staged roll's pure parts: batches, the checks of --batch and --max-unavailable, --image resolution, availability. */
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {busyValues, describeBusy, type NodeView} from '@layercake/sdk';
import {CliError} from '@layercake/sdk/cli';
import {isAvailable, resolveImages, rollPatch} from '../src/roll/images.js';
import {batchesOf, checkStaging} from '../src/roll/staged.js';

const code = (fn: () => unknown) => {
  try {
    fn();
    return undefined;
  } catch (error) {
    return {code: (error as {code?: string}).code, message: (error as Error).message};
  }
};

test('batches keep the hostlist order; the last one holds the rest', () => {
  assert.equal(batchesOf(['n01', 'n02', 'n03', 'n04', 'n05'], 2), [['n01', 'n02'], ['n03', 'n04'], ['n05']]);
  assert.equal(batchesOf(['n01'], 4), [['n01']]);
});

test('--batch and --max-unavailable: at least 1, and a batch must fit in the budget', () => {
  assert.is(code(() => checkStaging(2, 2)), undefined);
  assert.is(code(() => checkStaging(1, 3)), undefined, 'room for nodes already down');
  assert.equal(code(() => checkStaging(0, 1))?.code, 'LC_ERR_USAGE');
  assert.match(code(() => checkStaging(0, 1))!.message, /--batch 0: a batch is at least 1 node/);
  assert.match(code(() => checkStaging(1, 0))!.message, /--max-unavailable 0: at least 1 node/);
  assert.match(code(() => checkStaging(1.5, 2))!.message, /--batch 1.5/);
  assert.match(code(() => checkStaging(3, 2))!.message, /--max-unavailable 2 is less than --batch 3/);
});

test('--image: a path or JSON becomes a cfg patch; a catalogue name is looked up (its error passes through); anything else a usage error', () => {
  const source = {kind: 'http', url: 'http://10.0.0.1:8080/images/ab.squashfs', sha256: 'ab', size: 4096, ref: 'demo:v2'};
  const catalogue = (ref: string) => {
    if (ref === 'demo:v2') return source;
    throw new CliError(`${ref} is not in the image catalogue`, {code: 'LC_ERR_IMAGE_NOT_IN_CATALOGUE', exit: 2});
  };
  assert.equal(resolveImages(['base=/images/v2.sqfs'], catalogue), [{name: 'base', patch: {source: {path: '/images/v2.sqfs'}}}]);
  assert.equal(resolveImages(['base=demo:v2'], catalogue), [{name: 'base', patch: {}, source}]);
  assert.equal(code(() => resolveImages(['base=demo:v9'], catalogue)), {code: 'LC_ERR_IMAGE_NOT_IN_CATALOGUE', message: 'demo:v9 is not in the image catalogue'});
  assert.equal(code(() => resolveImages(['base=relative.sqfs'], catalogue))?.code, 'LC_ERR_USAGE');
  assert.equal(code(() => resolveImages(['=x'], catalogue))?.code, 'LC_ERR_USAGE');
  // A catalogue image's source replaces the old one whole: a file source's path must not stay in an http source.
  const view = {cfg: {id: 'n1', extensions: {imageset: {state: 'ACTIVE', images: {base: {source: {kind: 'file', path: '/images/v1.sqfs'}, container: {command: '/sbin/init'}}}}}}} as unknown as NodeView;
  assert.equal(rollPatch(view, resolveImages(['base=demo:v2'], catalogue), []).extensions.imageset.images.base, {source, container: {command: '/sbin/init'}});
});

const node = (runState: string, set: string, goal?: string) => ({
  cfg: {extensions: {imageset: goal ? {state: goal} : {}}}, dsc: {runState, extensions: {imageset: {state: set}}},
}) as unknown as NodeView;

test('in service: synced, with the image set where its goal is', () => {
  assert.ok(isAvailable(node('SYNC', 'ACTIVE')));
  assert.ok(isAvailable(node('SYNC', 'IDLE', 'IDLE')));
  assert.not.ok(isAvailable(node('SYNC', 'UPDATE')));
  assert.not.ok(isAvailable(node('SYNC', 'ERROR')));
  assert.not.ok(isAvailable(node('INIT', 'ACTIVE')));
});

test('busy values: BUSY carries the reason and the expiry; FREE clears them', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  const busy = busyValues(true, {reason: 'slurm job 7', forMs: 3_600_000, now});
  assert.equal(busy, {'/busy': 'BUSY', '/extensions/busy/reason': 'slurm job 7', '/extensions/busy/since': '2026-01-01T00:00:00.000Z', '/extensions/busy/until': '2026-01-01T01:00:00.000Z'});
  assert.equal(busyValues(false, {now}), {'/busy': 'FREE', '/extensions/busy/reason': '', '/extensions/busy/since': '2026-01-01T00:00:00.000Z', '/extensions/busy/until': ''});
  assert.is(describeBusy({busy: true, reason: 'slurm job 7', since: 'T0', until: 'T1'}), 'BUSY (slurm job 7) since T0, until T1');
  assert.is(describeBusy({busy: false, reason: '', since: 'T0', until: ''}), 'FREE');
});

test.run();
