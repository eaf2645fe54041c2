// A child process for the kill -9 test: writes nodes in a loop and prints "ack N" after each write returns.
// It runs the built store (dist/) under plain node: the test starts it 25 times, and loading tsx for each
// start cost more CPU than the rest of the test (docs/testing.md, "How long the unit tier takes").
import {Registry} from '../../dist/model/registry.js';
import {Store} from '../../dist/store/store.js';

const [dir, startText] = process.argv.slice(2);
const store = Store.open({dir, registry: new Registry(), compactAfter: 50});
for (let i = Number(startText); ; i++) {
  if (i % 3 === 2) store.setCfg(`n${i - 1}`, 'physState', 'POWER_ON');
  else store.apply([{nodename: `n${i}`, arch: 'amd64', extensions: {ipv4: {ip: `10.0.${(i >> 8) & 255}.${i & 255}`}}}]);
  process.stdout.write(`ack ${i}\n`);
}
