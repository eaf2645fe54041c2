/**
 * bench/boot Layer1: on one qemu VM booted from the network (as bench/boot/index.ts does), the power-on
 * command (cfg physState POWER_ON, image set ACTIVE with demo:v1) to the image running (dsc image set
 * ACTIVE, its container running), and rolls between demo:v1 and demo:v2 (cfg write to the new container
 * running, as seen by the parent), against a direct start of the same image inside the same VM in the same
 * run: over ssh to Layer0's sshd, a shell script attaches the image file (already fetched into RAM) on a
 * loop device, mounts it with a RAM overlay and runs `unshare ... chroot` into it, timed inside the VM.
 * Each roll starts from a settled node (the previous image released: the service does that right after
 * answering), and there are as many direct starts as rolls, so that both medians stand on
 * as many samples. Targets (issue 16): roll <= 3x the direct start, and < 2 s.
 *
 * Run by bench/boot/index.ts after the Layer0 boot (`--part layer1` for this one alone).
 */
import {spawnSync} from 'node:child_process';
import {existsSync, readFileSync} from 'node:fs';
import {homedir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {containerRequest, httpSource, type CatalogueEntry, type ImageSpec} from '@layercake/plugin-imageapi';
import type {NodeView} from '@layercake/sdk';
import {DEMO_INIT, demoCatalogue, demoImageset, describeMissing, kvmVerdict, LAB_HTTP, LAB_SUBNET, layer0BootRoot, missingForVms, startVmLab, VM_ARCH, type VmLab} from '../../plugins/vm/src/index.js';
import {median, s} from './support.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE = 'n01';
const IP = `10.213.0.${LAB_SUBNET.firstNode}`;
const HEAD_KEY = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((k) => join(homedir(), '.ssh', k)).find(existsSync);

/** A shell script run by Layer0's sshd (port 2022) on the VM, through the lab's host link. */
function ssh(script: string): string {
  const r = spawnSync('ssh', ['-p', '2022', ...(HEAD_KEY ? ['-i', HEAD_KEY] : []), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
    '-o', 'BatchMode=yes', `root@${IP}`, 'sh', '-s'], {input: script, encoding: 'utf8', timeout: 120_000});
  if (r.status !== 0) throw new Error(`ssh ${IP}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
  return r.stdout;
}

/**
 * The direct start, timed by the VM's own clock (/proc/uptime, 10 ms): attach, mount, overlay, then
 * `unshare ... chroot` running the image's cat of /etc/layercake-image. util-linux's tools by their path:
 * Layer0's busybox sh would run its own applets for bare names.
 */
const DIRECT = `set -e
t0=$(cut -d' ' -f1 /proc/uptime)
d=/run/bench-direct; mkdir -p $d/lower $d/rw $d/root
dev=$(/usr/sbin/losetup --find --show --read-only /run/bench.sqfs)
/usr/sbin/mount -t squashfs -o ro "$dev" $d/lower
/usr/sbin/mount -t tmpfs tmpfs $d/rw; mkdir $d/rw/upper $d/rw/work
/usr/sbin/mount -t overlay overlay -o lowerdir=$d/lower,upperdir=$d/rw/upper,workdir=$d/rw/work $d/root
image=$(/usr/sbin/unshare --mount --pid --ipc --uts --fork --mount-proc=$d/root/proc chroot $d/root /bin/cat /etc/layercake-image)
t1=$(cut -d' ' -f1 /proc/uptime)
/usr/sbin/umount $d/root $d/rw $d/lower; /usr/sbin/losetup --detach "$dev"; rm -rf $d
echo "$t0 $t1 $image"
`;

/**
 * The CPU time qemu has used, in ms (utime + stime of /proc/<pid>/stat, 10 ms ticks). Under TCG the
 * vCPU's work is qemu's CPU time, whatever else the host runs: a second measure of a roll against the
 * direct start that load on the host does not stretch (wall-clock times in the VM do).
 */
function qemuCpuMs(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // fields 14 and 15: utime, stime (USER_HZ 100)
}

/** The direct start; its CPU time without that of the ssh session around it (`session`: an empty one's). */
function directStart(qemu: number | undefined, session: number): {ms: number; cpuMs: number; image: string} {
  const c0 = qemuCpuMs(qemu);
  const [t0, t1, image] = ssh(DIRECT).trim().split(/\s+/);
  return {ms: Math.round((Number(t1) - Number(t0)) * 1000), cpuMs: qemuCpuMs(qemu) - c0 - session, image: image!};
}

/** The qemu CPU time of an ssh session that runs nothing (median of 3). */
function sessionCpuMs(qemu: number | undefined): number {
  return median(Array.from({length: 3}, () => {
    const c0 = qemuCpuMs(qemu);
    ssh('true');
    return qemuCpuMs(qemu) - c0;
  }));
}

interface Base {state?: string; containerState?: string; source?: {ref?: string}}
const baseOf = (v: NodeView) => (v.dsc.extensions.imageset as {state?: string; images?: Record<string, Base>} | undefined);
const runs = (v: NodeView, ref: string) => baseOf(v)?.state === 'ACTIVE' && baseOf(v)?.images?.base?.containerState === 'running' && baseOf(v)?.images?.base?.source?.ref === ref;

/**
 * Waits, untimed, until the node's ImageAPI has released the previous image: it does so right after
 * answering a replace, under its lock, so a roll started earlier would wait for it. Each roll is timed
 * from a settled node, as an operator's would be. Released means one overlay left and one loop device
 * (the release's last step detaches the old image's): the overlay alone is gone 0.4 s into a release of
 * 0.6 s, and the rest (two unmounts and the detach, under the service's lock) ran into the next roll.
 * What follows the detach (the service records the change, the agent's watch looks) is not waited for.
 * The loop runs inside the VM (one ssh).
 */
function settle(): void {
  ssh(`i=0; while [ "$(wget -qO- 'http://127.0.0.1:8080/imageapi/v1/mount?kind=overlay' | grep -o '"kind":"overlay"' | wc -l)" != 1 ] || [ "$(ls -d /sys/block/loop*/loop 2>/dev/null | wc -l)" != 1 ]; do
    i=$((i + 1)); [ $i -lt 600 ] || { echo 'the previous image was not released within 30 s' >&2; exit 1; }; sleep 0.05; done`);
}

/**
 * When the parent recorded n01 running `ref` (its history: sync writes the child's report of the image
 * set as one value), in ms since `t0`; the poll's time (`polled`) if the entry has left the history. The
 * poll every 20 ms (and its API call) would add up to ~25 ms of sampling to each roll.
 */
async function recordedAt(lab: VmLab, ref: string, t0: number, polled: number): Promise<number> {
  const entry = (await lab.api.history(NODE)).entries.find((h) => h.time >= t0 && h.kind === 'dsc' && h.url === '/extensions/imageset'
    && runs({dsc: {extensions: {imageset: h.value}}} as unknown as NodeView, ref));
  return entry ? entry.time - t0 : polled;
}

/** Polls the parent's view of n01 every 20 ms until `ok`; the ms since `t0`. */
async function until(lab: VmLab, what: string, ok: (v: NodeView) => boolean, t0: number, timeoutMs: number): Promise<number> {
  for (;;) {
    const v = (await lab.api.listNodes()).find((x) => x.dsc.nodename === NODE)!;
    if (ok(v)) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what} not within ${timeoutMs / 1000} s: imageset ${JSON.stringify(baseOf(v))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The parent's history of n01 since `t0` (cfg, dsc and mutation entries), one line each, in seconds from
 * t0. Sync writes a child's report of the image set as one value (/extensions/imageset): shown as its
 * state and the base image's state and container.
 */
async function rollSteps(lab: VmLab, t0: number): Promise<string> {
  const shown = (h: {url?: string; value?: unknown}) => {
    if (h.url !== '/extensions/imageset') return h.value !== undefined ? ` = ${JSON.stringify(h.value)}` : '';
    const set = h.value as {state?: string; images?: Record<string, Base>} | undefined;
    return ` = ${set?.state}, base ${set?.images?.base?.state} (${set?.images?.base?.source?.ref} ${set?.images?.base?.containerState || '-'})`;
  };
  const entries = (await lab.api.history(NODE)).entries.filter((h) => h.time >= t0 && (h.kind !== 'dsc' && h.kind !== 'cfg' || /imageset(\/(state|images\/base\/(state|containerState|source\/ref)))?$/.test(h.url ?? '')));
  return entries.map((h) => `    +${((h.time - t0) / 1000).toFixed(2)} s  ${h.kind} ${h.mutation ?? ''}${h.url ?? ''}${shown(h)}`).join('\n');
}

/**
 * The agent's debug log of the last roll (LAYER0_AGENT_DEBUG: sync in and out, the imageset module's
 * steps and ImageAPI calls), in seconds from the cfg's arrival, by the VM's clock.
 */
function agentSteps(): string {
  const lines = ssh('logread | grep " agent: {"').split('\n').flatMap((l) => {
    try {
      const e = JSON.parse(l.slice(l.indexOf('agent: {') + 7)) as {level: number; time: number; msg: string} & Record<string, unknown>;
      return e.level === 20 ? [e] : [];
    } catch {
      return [];
    }
  });
  const from = lines.findLastIndex((e) => e.msg === 'sync: cfg from the parent' && e.full === false);
  if (from < 0) return '    (no debug lines: was the agent restarted with LAYER0_AGENT_DEBUG=1?)';
  const t0 = lines[from]!.time;
  return lines.slice(from).map(({level: _l, time, msg, pid: _p, hostname: _h, ...rest}) =>
    `    +${((time - t0) / 1000).toFixed(3)} s  ${msg}${Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : ''}`).join('\n');
}

/**
 * Each roll less the node's ImageAPI's own create or replace (its debug log, one line per replace, the
 * rolls' first): the time spent elsewhere (the parent, sync both ways, the agent's engine and imageset
 * module, its HTTP to the service). Under TCG it is mostly the agent's CPU.
 */
function outsideTheService(rolls: number[], debugLog: string): string {
  const replaces = [...debugLog.matchAll(/create or replace \(with the lock's wait\): (\d+) ms/g)].map((m) => Number(m[1]));
  if (replaces.length < rolls.length) return `outside the node's ImageAPI: unknown (${replaces.length} replaces in its debug log for ${rolls.length} rolls)`;
  const outside = rolls.map((r, i) => r - replaces[i]!);
  return `outside the node's ImageAPI (roll less its create or replace), per roll: ${outside.map((ms) => (ms / 1000).toFixed(3)).join(', ')} s; median ${(median(outside) / 1000).toFixed(3)} s`
    + ` (its replaces: ${replaces.slice(0, rolls.length).map((ms) => (ms / 1000).toFixed(3)).join(', ')} s)`;
}

export interface Layer1Options {
  rolls: number;
  memoryMb: number;
  json: boolean;
  /** Restart the node's ImageAPI and agent in debug mode before the rolls, and print their step timings after them. */
  nodeDebug: boolean;
}

/**
 * The node's ImageAPI and agent again, with --debug and --log-level debug (step timings in their logs;
 * supervise restarts each within ~1 s; the agent phones home in a new session).
 */
const NODE_DEBUG = `echo LAYER0_IMAGEAPI_DEBUG=1 >/run/layer0/imageapi.env; echo LAYER0_AGENT_DEBUG=1 >/run/layer0/agent.env
kill "$(cat /run/layer0/imageapi.pid)" "$(cat /run/layer0/agent.pid)"; sleep 0.5
for i in $(seq 1 600); do wget -q -O /dev/null http://127.0.0.1:8080/imageapi/v1/info 2>/dev/null && exit 0; sleep 0.1; done; echo "the ImageAPI did not come back" >&2; exit 1
`;

/** Restarts the node's ImageAPI and agent in debug mode; resolves once the agent is in a new session and demo:v1 runs. */
async function nodeDebug(lab: VmLab): Promise<void> {
  const session = async () => (await lab.api.syncStatus()).children.find((c) => c.nodename === NODE && c.state === 'synced')?.session;
  const before = await session();
  ssh(NODE_DEBUG);
  const t0 = Date.now();
  for (let now = await session(); now === undefined || now === before; now = await session()) {
    if (Date.now() - t0 > 120_000) throw new Error('the agent restarted with debug did not phone home within 120 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  await until(lab, 'demo:v1 ACTIVE after the restart', (v) => runs(v, 'demo:v1'), t0, 120_000);
}

export async function layer1Bench(options: Layer1Options): Promise<void> {
  const ROLLS = options.rolls;
  const log = (line: string) => { if (!options.json) console.log(line); };
  const missing = describeMissing(missingForVms());
  if (missing) {
    console.log(`SKIP: bench/boot layer1 needs ${missing}`);
    return;
  }
  const bootRoot = await layer0BootRoot(log, ROOT);
  const images = await demoCatalogue(log, ROOT);
  const entries = images.entries as Record<string, CatalogueEntry>;
  const verdict = await kvmVerdict(join(bootRoot, VM_ARCH, 'vmlinuz'));
  const accel = verdict.usable ? 'kvm' : 'tcg';
  log(`accelerator: ${accel.toUpperCase()} (KVM probe: ${verdict.reason}); ${options.memoryMb} MiB; ${ROLLS} rolls; demo image ${(entries['demo:v1']!.size / 2 ** 20).toFixed(1)} MiB`);
  const lab = await startVmLab({vms: 1, bootRoot, cliRoot: ROOT, accel, memoryMb: options.memoryMb, physState: 'POWER_OFF', logLevel: 'warn', hostLink: true, catalogue: images.dir});
  try {
    await lab.api.apply(lab.nodes);
    const t0 = Date.now();
    const demo = demoImageset(entries['demo:v1']!, LAB_HTTP.url);
    await lab.api.setValues({nodes: [NODE], set: {physState: 'POWER_ON', runState: 'SYNC', 'imageset.state': 'ACTIVE', 'imageset.images': (demo as {images: unknown}).images as never}});
    const synced = async () => {
      const status = await lab.api.syncStatus();
      return status.enabled && status.children.some((c) => c.nodename === NODE && c.state === 'synced');
    };
    while (!await synced()) {
      if (Date.now() - t0 > 300_000) throw new Error('n01 did not phone home within 300 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    const sync = Date.now() - t0;
    const active = await until(lab, 'demo:v1 ACTIVE', (v) => runs(v, 'demo:v1'), t0, 300_000);
    log(`power-on command -> agent in session (SYNC) ${s(sync)} s -> demo:v1 ACTIVE ${s(active)} s (image set after SYNC: ${s(active - sync)} s)`);
    if (options.nodeDebug) await nodeDebug(lab);
    const rolls: number[] = [];
    const rollCpu: number[] = [];
    const qemu = lab.vmOf(NODE)?.qemuPid();
    for (let i = 0; i < ROLLS; i++) {
      const ref = i % 2 === 0 ? 'demo:v2' : 'demo:v1';
      const t = Date.now();
      const c0 = qemuCpuMs(qemu);
      await lab.api.setValues({nodes: [NODE], set: {'imageset.images.base.source': httpSource(entries[ref]!, LAB_HTTP.url) as never}});
      rolls.push(await recordedAt(lab, ref, t, await until(lab, `roll to ${ref}`, (v) => runs(v, ref), t, 120_000)));
      rollCpu.push(qemuCpuMs(qemu) - c0);
      log(`roll ${i + 1} to ${ref}: ${(rolls.at(-1)! / 1000).toFixed(2)} s (qemu CPU ${(rollCpu.at(-1)! / 1000).toFixed(2)} s)`);
      if (i === ROLLS - 1) log(`  where it went (the parent's history of ${NODE}, from the cfg write):\n${await rollSteps(lab, t)}`);
      if (i === ROLLS - 1 && options.nodeDebug) log(`  and on the node (the agent's debug log, from the cfg's arrival):\n${agentSteps()}`);
      settle();
    }
    // The direct start: the same image file, fetched once into RAM (timed apart), then started by hand.
    const fetch = ssh(`t0=$(cut -d' ' -f1 /proc/uptime); wget -q -O /run/bench.sqfs ${LAB_HTTP.url}/images/${entries['demo:v2']!.sha256}.squashfs; sha256sum /run/bench.sqfs >/dev/null; echo $t0 $(cut -d' ' -f1 /proc/uptime)`)
      .trim().split(' ').map(Number);
    const fetchMs = Math.round((fetch[1]! - fetch[0]!) * 1000);
    const session = sessionCpuMs(qemu);
    const direct = Array.from({length: ROLLS}, () => directStart(qemu, session)); // as many as rolls: both medians of as many samples
    for (const d of direct) if (d.image !== 'demo:v2') throw new Error(`the direct start ran ${d.image}, not demo:v2`);
    // The node's part of a roll alone: the same replace the imageset module asks of the node's ImageAPI
    // (fetch, checksum, attach, mount, stop the old container, start the new), timed in the VM. Last: the
    // module sees a container it did not ask for afterwards.
    const other = ROLLS % 2 === 0 ? 'demo:v2' : 'demo:v1';
    const spec = {source: {...httpSource(entries[other]!, LAB_HTTP.url), options: []}, mount: {overlay: true, upper: 'tmpfs'},
      container: {command: [DEMO_INIT], systemd: false, state: 'running'}} as unknown as ImageSpec;
    const body = JSON.stringify(containerRequest('base', spec)).replaceAll("'", "'\\''");
    const replaced = ssh(`t0=$(cut -d' ' -f1 /proc/uptime); wget -q -O /run/replace.json --header 'Content-Type: application/json' --post-data '${body}' 'http://127.0.0.1:8080/imageapi/v1/container?replace=true'; `
      + `echo $t0 $(cut -d' ' -f1 /proc/uptime) $(grep -o '"state":"[a-z]*"' /run/replace.json | head -1)`).trim().split(' ');
    const replaceMs = Math.round((Number(replaced[1]) - Number(replaced[0])) * 1000);
    log(`the node's ImageAPI alone, replacing the container with ${other} (POST /container?replace=true, timed in the VM): ${(replaceMs / 1000).toFixed(2)} s (${replaced[2]})`);
    if (options.nodeDebug) {
      const lines = ssh('logread | grep " imageapi: debug: " | sed "s/^.*imageapi: debug: /    /"').trimEnd();
      log(`the node's ImageAPI debug log (logread):\n${lines}`);
      log(outsideTheService(rolls, lines));
    }
    const roll = median(rolls);
    const start = median(direct.map((d) => d.ms));
    const cpu = {roll: median(rollCpu), direct: median(direct.map((d) => d.cpuMs))};
    const summary = {accel, powerOnToSyncS: sync / 1000, powerOnToActiveS: active / 1000, rollsS: rolls.map((r) => r / 1000), rollMedianS: roll / 1000,
      directStartsS: direct.map((d) => d.ms / 1000), directMedianS: start / 1000, imageApiReplaceS: replaceMs / 1000, fetchAndChecksumS: fetchMs / 1000, ratio: +(roll / start).toFixed(2), targets: {ratio: 3, rollS: 2},
      qemuCpu: {rollsS: rollCpu.map((c) => c / 1000), directsS: direct.map((d) => d.cpuMs / 1000), ratio: +(cpu.roll / cpu.direct).toFixed(2), sshSessionS: session / 1000}};
    if (options.json) {
      console.log(JSON.stringify(summary, null, 2));
      return;
    }
    console.log(`\nbaseline: direct start inside the VM (losetup, mount squashfs + overlay, unshare ... chroot), median of ${direct.length}: ${(start / 1000).toFixed(2)} s (${direct.map((d) => (d.ms / 1000).toFixed(2)).join(', ')})`);
    console.log(`          fetching the image into RAM with busybox wget + sha256sum, apart: ${(fetchMs / 1000).toFixed(2)} s`);
    console.log(`roll (cfg write on the parent -> new container running, seen by the parent), median of ${ROLLS}: ${(roll / 1000).toFixed(2)} s = ${summary.ratio}x the direct start (target <= 3x; ${roll < 2000 ? 'under' : 'over'} the 2 s target)`);
    console.log(`qemu CPU time (the VM's work, whatever the host's load): roll median ${(cpu.roll / 1000).toFixed(2)} s, direct start median ${(cpu.direct / 1000).toFixed(2)} s (${direct.map((d) => (d.cpuMs / 1000).toFixed(2)).join(', ')}) = ${summary.qemuCpu.ratio}x (an ssh session's ${(session / 1000).toFixed(2)} s taken off each direct start)`);
    console.log(`power-on command -> image set ACTIVE: ${(active / 1000).toFixed(1)} s (SYNC at ${(sync / 1000).toFixed(1)} s)`);
  } finally {
    await lab.stop();
  }
}

