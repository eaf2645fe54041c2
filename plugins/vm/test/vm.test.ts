// The VM harness's pure parts: the qemu command line a BMC runs, the console reader, the requirement messages.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {cleanConsole, describeMissing, lastLine, qemuArgs, readFrom, type VmSpec} from '../src/index.js';

const spec: VmSpec = {name: 'n01', mac: '52:54:00:13:00:01', tap: 'tap1', bmcPort: 6231, kcsPort: 9101, memoryMb: 1024, accel: 'tcg'};

test('a VM boots from the network with the stock ROM, behind its BMC, and resets in place', () => {
  const args = qemuArgs(spec, '/lab/vms/n01');
  const joined = args.join(' ');
  assert.ok(args.includes('-boot') && args[args.indexOf('-boot') + 1] === 'n', 'network boot');
  for (const shortcut of ['-kernel', '-initrd', '-append']) assert.not.ok(args.includes(shortcut), `no ${shortcut}`);
  assert.not.ok(args.includes('-no-reboot'), 'a guest reboot and an IPMI reset restart the machine in place, as on hardware');
  assert.match(joined, 'ipmi-bmc-extern,chardev=ipmi0,id=bmc0');
  assert.match(joined, 'isa-ipmi-kcs,bmc=bmc0');
  assert.match(joined, 'socket,id=ipmi0,host=127.0.0.1,port=9101,reconnect=10');
  assert.match(joined, 'tap,id=net0,ifname=tap1,script=no,downscript=no');
  assert.match(joined, 'mac=52:54:00:13:00:01');
  assert.match(joined, 'path=/lab/vms/n01/console.log,append=on');
  assert.is(args[args.indexOf('-accel') + 1], 'tcg');
  assert.not.ok(args.includes('-cpu'), 'TCG runs its default CPU model');
  assert.ok(qemuArgs({...spec, accel: 'kvm'}, '/x').includes('host'), 'KVM passes the host CPU through');
});

test('console text is read as a person would: no escapes, no spinner backspaces, no overwritten progress', () => {
  const raw = `\u001B[2J\u001B[01;01HiPXE initialising devices...ok\r\nlayer0-base.img... 17\u0008\u0008\u0008 72\u0008\u0008\u0008ok\r\nPress Ctrl-B\rnet0: 10.213.0.11/255.255.255.0\r\n`;
  assert.is(cleanConsole(raw), 'iPXE initialising devices...ok\nlayer0-base.img...ok\nnet0: 10.213.0.11/255.255.255.0\n');
});

test('reading a console log from an offset, and its last line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-vm-test-'));
  try {
    const file = join(dir, 'console.log');
    assert.equal(readFrom(file, 0), {text: '', next: 0}, 'a log not yet written reads empty');
    writeFileSync(file, 'SeaBIOS\r\nlayer0: agent started (pid 226)\r\n\r\n');
    const first = readFrom(file, 0);
    assert.is(first.next, first.text.length);
    assert.is(readFrom(file, first.next).text, '', 'nothing new');
    assert.is(lastLine(file), 'layer0: agent started (pid 226)');
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

test('what is missing is named with the Debian package that brings it', () => {
  assert.is(describeMissing([]), undefined);
  assert.is(describeMissing([{what: 'root (network namespaces need it)', package: ''}, {what: 'ipmi_sim', package: 'openipmi'}, {what: 'ipmitool', package: 'ipmitool'}]),
    'missing: root (network namespaces need it), ipmi_sim (Debian openipmi), ipmitool (Debian ipmitool); install with: apt-get install openipmi ipmitool');
});

test.run();
