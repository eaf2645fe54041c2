// `image roll --wait` fails a node only for an error of the spec it rolls to: found on the VMs, where a
// roll back to demo:v2 after a failed roll (wrong checksum) was failed at once on the old error, and its
// "put back" restored the bad spec in cfg.
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import type {NodeView} from '@layercake/sdk';
import {rollFailure} from '../src/roll/images.js';

const good = {source: {kind: 'file', path: '/images/v2.sqfs'}, container: {command: ['/sbin/init']}};
const bad = {source: {kind: 'file', path: '/images/broken.sqfs'}, container: {command: ['/sbin/init']}};
const node = (cfgImage: object, dscImage: object): NodeView => ({
  cfg: {id: 'a', nodename: 'n01', extensions: {imageset: {state: 'ACTIVE', images: {base: cfgImage}}}},
  dsc: {id: 'a', nodename: 'n01', extensions: {imageset: {state: 'ERROR', images: {base: dscImage}}}},
} as unknown as NodeView);

test('an ERROR of the spec the cfg asks for is the roll\'s failure, with its reason', () => {
  assert.is(rollFailure(node(bad, {...bad, state: 'ERROR', lastError: 'ATTACH: /images/broken.sqfs does not exist'}), ['base']), 'image base: ATTACH: /images/broken.sqfs does not exist');
});

test('an ERROR left by another spec (rolling back from a failed roll) is not', () => {
  assert.is(rollFailure(node(good, {...bad, state: 'ERROR', lastError: 'ATTACH: /images/broken.sqfs does not exist'}), ['base']), undefined);
});

test('an image that is not part of the roll is not looked at', () => {
  assert.is(rollFailure(node(bad, {...bad, state: 'FATAL', lastError: 'gave up'}), ['other']), undefined);
});

test.run();
