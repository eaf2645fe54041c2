// Layer0 for real: `layer0 build` from this host's kernel, busybox, dropbear and node, booted by
// qemu-system-x86_64 (TCG; -kernel with the three initrds concatenated, as the kernel accepts them) with
// a user-mode NIC whose host is the parent: a real layercake daemon in this process, listening for sync
// on loopback. Asserted from the serial console and over the node's sshd (port 2022, forwarded):
// modules loaded by modalias, the interface configured from layercake.*, ImageAPI and the agent
// started and the node SYNC at the parent, the join secret kept from /proc/cmdline and ps, dropbear
// accepting the head key through `layercake exec`'s code, a killed agent restarted by the supervisor and
// phoning home again, a failing service backed off and shown on the console with its last words, a root
// shell on the console, and the ACPI power button powering off cleanly.
import {spawn, type ChildProcess} from 'node:child_process';
import {createSocket} from 'node:dgram';
import {createReadStream, createWriteStream, mkdtempSync, rmSync} from 'node:fs';
import {connect} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {pipeline} from 'node:stream/promises';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import type {NodeView} from '@layercake/sdk';
import {busyModule, parseDaemonConfig, startDaemon, syncModule, type Daemon} from '@layercake/sdk/embed';
import {execOne} from '../../../src/cli/exec.js';
import {buildLayer0} from '../src/build/build.js';
import {agentSettings} from '../src/build/cluster.js';
import {findInputs, which} from '../src/build/inputs.js';
import {cliModuleHooks} from '../src/build/hooks.js';
import {headKeys} from '../src/build/keys.js';
import {DEFAULT_MODULES} from '../src/build/kmod.js';

const NODE = {id: '6b3c1a52-1111-4222-8333-944455556666', name: 'n01'};
const SECRET = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
const found = findInputs();
const why = !which('qemu-system-x86_64') ? 'qemu-system-x86_64 is not installed (Debian qemu-system-x86)'
  : !found.inputs ? `Layer0 inputs missing: ${found.requirements.filter((r) => !r.ok).map((r) => `${r.what} (${r.package})`).join(', ')}`
  : '';

/** The VM's serial console: everything it printed, and a wait for a line that matches. */
class Console {
  text = '';
  private waiters: (() => void)[] = [];
  constructor(readonly vm: ChildProcess) {
    const add = (d: Buffer) => {
      this.text += d.toString();
      for (const w of this.waiters) w();
    };
    vm.stdout!.on('data', add);
    vm.stderr!.on('data', add);
  }

  /** Resolves with the match of `re` in the output after `from` (an offset into the text). */
  wait(re: RegExp, ms: number, from = 0): Promise<RegExpExecArray & {end: number}> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(this.text.slice(from));
        if (!m) return false;
        this.waiters = this.waiters.filter((w) => w !== check);
        clearTimeout(timer);
        resolve(Object.assign(m, {end: from + m.index + m[0].length}));
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`console: no ${re} within ${ms / 1000} s; the console said:\n${this.text.slice(-3000)}`));
      }, ms);
      if (!check()) this.waiters.push(check);
    });
  }
}

async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  if (kind === 'udp') {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    const {port} = s.address();
    s.close();
    return port;
  }
  const {createServer} = await import('node:net');
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const {port} = srv.address() as {port: number};
  await new Promise((r) => srv.close(r));
  return port;
}

/** One QMP command on qemu's monitor socket (after the capabilities handshake). */
function qmp(socket: string, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = connect(socket);
    let buf = '';
    let step = 0;
    c.on('error', reject);
    c.on('data', (d) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const msg = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        if (msg.error) { c.destroy(); reject(new Error(JSON.stringify(msg.error))); return; }
        if (step === 0 && msg.QMP) { c.write('{"execute":"qmp_capabilities"}\n'); step = 1; } else if (step === 1 && 'return' in msg) { c.write(`{"execute":"${command}"}\n`); step = 2; } else if (step === 2 && 'return' in msg) { c.end(); resolve(); }
      }
    });
  });
}

if (why) {
  console.log(`SKIP: ${why}`);
  test.skip('Layer0 boots under qemu to a running, supervised agent');
} else {
  let dir: string;
  let parent: Daemon | undefined;
  let vm: ChildProcess | undefined;
  let con: Console;
  let sshPort = 0;
  let qmpSocket = '';
  let started = 0;
  const mark = (what: string) => console.log(`  ${what} at ${((Date.now() - started) / 1000).toFixed(1)} s`); // figures for docs/layer0.md, not assertions
  const home = process.env.HOME;
  const exec = (command: string) => execOne({id: NODE.id, nodename: NODE.name, host: '127.0.0.1', port: sshPort}, command,
    {user: 'root', port: sshPort, parallel: 1, timeoutMs: 60_000, knownHosts: '/dev/null'});

  /** Resolves once the parent's view of the node satisfies `holds` (checked at every state change). */
  const parentSees = (holds: (view: NodeView) => boolean, what: string, ms = 30_000) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`the parent did not see the node ${what}; console:\n${con.text.slice(-3000)}`)); }, ms);
    const check = () => {
      const view = parent!.store.get(NODE.id);
      if (!view || !holds(view)) return;
      clearTimeout(timer);
      off();
      resolve();
    };
    const off = parent!.store.events.subscribe({types: ['STATE_CHANGE']}, check);
    check();
  });

  test.before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lc-layer0-boot-'));
    // The head's key pair is made in this test's home, where `layercake exec` looks for it by default.
    process.env.HOME = join(dir, 'home');
    const keys = headKeys();
    const syncPort = await freePort('udp');
    parent = await startDaemon({
      config: parseDaemonConfig({stateDir: join(dir, 'head'), listen: 'none', logLevel: 'warn', sync: {listen: `127.0.0.1:${syncPort}`, helloInterval: '2s', deadInterval: '8s'}}),
      modules: [syncModule, busyModule], logTo: 'stderr',
    });
    parent.store.apply([{id: NODE.id, nodename: NODE.name, arch: 'amd64', runState: 'SYNC', extensions: {sync: {joinSecret: SECRET}}}], {source: 'test'});
    const out = join(dir, 'boot', 'amd64');
    // the agent plans with every module of this repository's CLI, as `layer0 build` on the head bundles it
    const moduleHooks = await cliModuleHooks(join(import.meta.dirname, '..', '..', '..'));
    await buildLayer0({
      inputs: found.inputs!, modules: DEFAULT_MODULES, dir: out, moduleHooks,
      cluster: {agent: agentSettings({sync: {listen: `0.0.0.0:${syncPort}`, helloInterval: '2s', deadInterval: '8s'}}), authorizedKeys: keys.authorizedKeys},
    });
    const initrd = join(dir, 'initrd.img');
    const w = createWriteStream(initrd);
    for (const f of ['layer0-base.img', 'layer0-kmod.img', 'layer0-config.img']) await pipeline(createReadStream(join(out, f)), w, {end: false});
    await new Promise((r) => w.end(r));
    sshPort = await freePort('tcp');
    qmpSocket = join(dir, 'qmp.sock');
    const cmdline = ['console=ttyS0,115200', 'quiet', `layercake.id=${NODE.id}`, 'layercake.parent=10.0.2.2', `layercake.name=${NODE.name}`,
      'layercake.iface=eth9', 'layercake.ip=10.0.2.15', 'layercake.net=24', `layercake.secret=${SECRET}`, 'ip=10.0.2.15::10.0.2.2:255.255.255.0:n01:eth9:off'].join(' ');
    vm = spawn('qemu-system-x86_64', ['-accel', 'tcg', '-m', '1024', '-smp', '2', '-display', 'none', '-serial', 'stdio', '-monitor', 'none',
      '-no-reboot', '-qmp', `unix:${qmpSocket},server=on,wait=off`, '-kernel', join(out, 'vmlinuz'), '-initrd', initrd, '-append', cmdline,
      '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${sshPort}-:2022`, '-device', 'virtio-net-pci,netdev=n0'], {stdio: ['pipe', 'pipe', 'pipe']});
    con = new Console(vm);
    started = Date.now();
  });

  test.after(async () => {
    if (vm && vm.exitCode === null) vm.kill('SIGKILL');
    await parent?.stop();
    process.env.HOME = home;
    rmSync(dir, {recursive: true, force: true});
  });

  test('Layer0 boots under qemu to a running, supervised agent', async () => {
    const mods = await con.wait(/layer0: modules loaded at [\d.]+s: ([^\r\n]*)\r?\n/, 90_000); // the whole line
    for (const m of ['virtio_net', 'virtio_pci', 'loop', 'squashfs', 'overlay', 'nbd']) assert.ok(mods[1]!.split(' ').includes(m), `${m} in "${mods[1]}"`);
    // layercake.iface names eth9, which does not exist: Layer0 takes the first NIC and says why
    await con.wait(/layer0: interface eth0 \(first NIC: layercake\.iface=eth9 not found, no BOOTIF=\) configured: 10\.0\.2\.15\/24 gateway 10\.0\.2\.2 \(at [\d.]+s\)/, 10_000);
    mark('interface configured');
    await con.wait(/layer0: imageapi started \(pid \d+, at [\d.]+s\)/, 30_000);
    const agent = await con.wait(/layer0: agent started \(pid (\d+), at ([\d.]+)s\)/, 30_000);
    mark(`agent started (guest uptime ${agent[2]} s)`);

    // the parent sees the node phone home and discovers it SYNC
    await parentSees((n) => n.dsc.runState === 'SYNC', 'SYNC', 90_000);
    mark('SYNC at the parent');

    // sshd on 2022 takes the head key (found by `layercake exec`'s defaults); the secret is root's alone
    const r = await exec('cat /proc/cmdline; stat -c "%a %U" /run/layer0/join-secret; ps -o args | grep -c "[0]0112233445566"; for i in $(seq 60); do wget -qO- http://127.0.0.1:8080/openapi.json && break; sleep 1; done | head -c 200');
    assert.is(r.exitCode, 0, r.error ?? r.stderr);
    const [cmdline, secretFile, inPs, openapi] = r.stdout.split('\n');
    assert.match(cmdline!, /layercake\.secret=\(hidden\)/);
    assert.not.match(r.stdout, new RegExp(SECRET));
    assert.is(secretFile, '600 root');
    assert.is(inPs, '0');
    assert.match(openapi ?? '', /openapi/, r.stdout);

    // an agent killed is restarted by its supervisor, and phones home again
    const kill = await exec('kill -9 "$(cat /run/layer0/agent.pid)"');
    assert.is(kill.exitCode, 0, kill.error ?? kill.stderr);
    await con.wait(/layer0: agent exited \(code 137\) after \d+s; restarting in 1s/, 20_000, agent.end);
    const again = await con.wait(/layer0: agent started \(pid (\d+), at [\d.]+s\)/, 20_000, agent.end);
    assert.is.not(again[1], agent[1]);
    // the agent serves its API on the local socket only: its start line says so
    const running = await exec('logread | grep "layercake daemon listening on unix:/run/layercake/api.sock"');
    const modules = /"modules":\[([^\]]*)\]/.exec(running.stdout)?.[1]?.split(',').map((m) => JSON.parse(m) as string) ?? [];
    for (const m of ['sync', 'imageset', 'ipmi', 'pxe']) assert.ok(modules.includes(m), `${m} in the agent's modules: ${running.stdout}`);
    const synced = await exec('for i in $(seq 90); do [ "$(logread | grep -c "synced with the parent")" -ge 2 ] && { echo resynced; exit 0; }; sleep 1; done; logread | grep agent: | tail -5; exit 1');
    assert.is(synced.stdout.trim(), 'resynced', synced.stdout);

    // layercake busy|free on the node (a scheduler's prolog and epilog): the agent's local socket; the parent sees the flag
    const busy = await exec('layercake busy --reason "boot test" --for 1h --json');
    assert.is(busy.exitCode, 0, busy.error ?? busy.stderr);
    assert.match(busy.stdout, /"busy": true/);
    assert.match(busy.stdout, /"reason": "boot test"/);
    await parentSees((n) => n.dsc.busy === 'BUSY' && (n.dsc.extensions.busy as {reason?: string} | undefined)?.reason === 'boot test', 'BUSY with its reason');
    const free = await exec('layercake free');
    assert.is(free.exitCode, 0, free.error ?? free.stderr);
    assert.match(free.stdout, /^n01: FREE$/m);
    await parentSees((n) => n.dsc.busy === 'FREE', 'FREE');

    // a service that keeps failing: restarted after 1, 2, 4 s, then shown on the console with its last words
    const flakyFrom = con.text.length;
    const flaky = await exec('setsid /etc/layer0/supervise flaky sh -c "echo flaky-last-words; exit 3" </dev/null >/dev/null 2>&1 &');
    assert.is(flaky.exitCode, 0, flaky.error ?? flaky.stderr);
    for (const wait of [1, 2, 4]) await con.wait(new RegExp(`layer0: flaky exited \\(code 3\\) after \\d+s; restarting in ${wait}s`), 30_000, flakyFrom);
    const dying = await con.wait(/layer0: flaky keeps dying \(3 times in a row\)[^\n]*\n(layer0: {3}[^\n]*\n)+/, 30_000, flakyFrom);
    assert.match(dying[0], /layer0: {3}flaky-last-words/);
    await exec('kill "$(cat /run/layer0/supervise-flaky.pid)"');
    await con.wait(/layer0: flaky stopped/, 30_000, flakyFrom);

    // a root shell on the serial console
    vm!.stdin!.write('echo console-shell-$((6*7)) $(id -u)\n');
    await con.wait(/console-shell-42 0/, 20_000);

    // the ACPI power button: acpid → poweroff → the children stopped first, then the machine is off
    const before = con.text.length;
    await qmp(qmpSocket, 'system_powerdown');
    await con.wait(/layer0: power button pressed: powering off/, 30_000, before);
    await con.wait(/layer0: agent stopped/, 30_000, before);
    const code = await new Promise<number | null>((resolve) => (vm!.exitCode !== null ? resolve(vm!.exitCode) : vm!.once('exit', resolve)));
    assert.is(code, 0);
    assert.match(con.text.slice(before), /reboot: Power down/);
  });
}

test.run();
