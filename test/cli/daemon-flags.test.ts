import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {effectiveConfig} from '../../src/daemon/setup.js';

test('--join-secret-file becomes sync.joinSecretFile, keeping the file\'s other sync settings', () => {
  const config = effectiveConfig({'join-secret-file': '/run/layercake/secret'}, {config: {sync: {helloInterval: '5s'}}} as never);
  assert.equal(config.sync, {helloInterval: '5s', joinSecretFile: '/run/layercake/secret'});
});

test('flags win over the file', () => {
  const config = effectiveConfig({listen: '127.0.0.1:0', freeze: true}, {config: {listen: '0.0.0.0:3141', freeze: false}} as never);
  assert.is(config.listen, '127.0.0.1:0');
  assert.is(config.freeze, true);
});

test.run();
