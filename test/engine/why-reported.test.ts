// `node why` shows the errors a node reports in its dsc (a mutation its own agent performs fails on the
// node, where the parent's engine does not see it): found on the VMs, where a roll to an image with a
// wrong checksum left the parent's `node why` with "waiting for the node itself" and no reason.
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {describeWhy} from '../../src/cli/describe.js';
import {reportedErrors} from '../../src/engine/engine.js';

const extensions = {
  imageset: {state: 'ERROR', images: {
    base: {state: 'ERROR', lastError: 'ATTACH: the image fetched from http://10.213.0.1:8069/images/ab.squashfs has sha256 cd…, not ab…', source: {kind: 'http'}},
    tools: {state: 'ACTIVE', lastError: ''},
  }},
  pxe: {state: 'INIT'},
};

test('every non-empty lastError under the extensions is reported, with its URL; empty ones are not', () => {
  assert.equal(reportedErrors(extensions), [
    {url: '/extensions/imageset/images/base/lastError', error: 'ATTACH: the image fetched from http://10.213.0.1:8069/images/ab.squashfs has sha256 cd…, not ab…'},
  ]);
  assert.equal(reportedErrors({}), []);
});

test('describeWhy prints them under "Errors the node reports"', () => {
  const text = describeWhy({nodeId: 'x', nodename: 'n01', converged: false, summary: 'n01 is waiting for the node itself to perform it before imageset/ERRORtoACTIVE',
    differences: [], plan: [], frozen: false, reported: reportedErrors(extensions)});
  assert.match(text, 'Errors the node reports:');
  assert.match(text, /imageset\.images\.base\.lastError: .*has sha256 cd…, not ab…/);
  assert.not.match(describeWhy({nodeId: 'x', nodename: 'n01', converged: true, summary: 's', differences: [], plan: [], frozen: false, reported: []}), 'Errors the node reports');
});

test.run();
