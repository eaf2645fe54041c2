/**
 * `layercake demo --vms N`: a VM lab (namespace, bridge, real daemon, N VMs with their BMCs, a host link
 * into the lab's network), the demo Layer1 images built into the VMs' catalogue (or found up to date),
 * the nodes applied with power on and image set ACTIVE on demo:v1, and a live view until every node runs
 * it; then it keeps running for the operator (node list, exec, image roll to demo:v2, power off n01,
 * console n01 from another terminal) until Ctrl-C or SIGTERM, which remove everything the demo made.
 */
import {mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {dirname, join} from 'node:path';
import type {NodeView} from '@layercake/sdk';
import {CliError, colorState, defaultSocketPath, renderTable, socketLive, type WhyResult} from '@layercake/sdk/cli';
import {lastLine} from './console.js';
import {demoCatalogue, demoImageset} from './demo-image.js';
import {kvmVerdict} from './kvm.js';
import {LAB_HTTP, startVmLab, VM_ARCH, type VmLab} from './lab.js';
import {describeMissing, missingForVms} from './requirements.js';

export interface VmDemoOptions {
  vms: number;
  /** The CLI the daemon runs from (its package root). */
  cliRoot: string;
  /** Builds Layer0 (or finds it up to date) and returns the boot root holding `<arch>/vmlinuz` .... */
  layer0: (log: (line: string) => void) => Promise<string>;
  /** Force an accelerator; default: KVM when the probe shows a KVM guest runs, else TCG. */
  accel?: 'kvm' | 'tcg';
  memoryMb?: number;
  /** Stop once every node runs demo:v1 (or `timeoutS` passes) instead of running on. */
  exit?: boolean;
  timeoutS: number;
  /** Progress lines (not in --json mode). */
  log: (line: string) => void;
  /** Redraw a full-screen view (a terminal) instead of printing a line per change. */
  interactive: boolean;
  /** Resolves when the operator wants the demo to end (Ctrl-C, SIGTERM). */
  stopped: Promise<void>;
}

export interface VmDemoResult {
  vms: number;
  converged: number;
  seconds: number;
  accel: string;
  /** The daemon's API (--url for other terminals). */
  url: string;
  /** Each VM's serial console log (removed when the demo ends). */
  consoles: Record<string, string>;
}

/** Where a running demo says where it is (for `layercake console`). */
export const DEMO_INDEX = '/run/layercake/vm-demo.json';

/** Removes the index unless another demo has written its own since. */
function removeIndexIfMine(): void {
  try {
    if (JSON.parse(readFileSync(DEMO_INDEX, 'utf8')).pid === process.pid) rmSync(DEMO_INDEX, {force: true});
  } catch { /* none */ }
}

interface Row {view: NodeView; why?: WhyResult}

function ext(node: NodeView['dsc'], name: string, key: string): string {
  return String((node.extensions[name] as Record<string, unknown> | undefined)?.[key] ?? '');
}

function render(lab: VmLab, rows: Row[], header: string): string {
  const table = renderTable(rows, [
    {header: 'NODE', get: (r) => r.view.dsc.nodename},
    {header: 'PHYS', get: (r) => colorState(r.view.dsc.physState)},
    {header: 'RUN', get: (r) => colorState(r.view.dsc.runState)},
    {header: 'PXE', get: (r) => colorState(ext(r.view.dsc, 'pxe', 'state') || 'NONE')},
    {header: 'IMAGES', get: (r) => `${colorState(ext(r.view.dsc, 'imageset', 'state') || 'UNKNOWN')} ${imageRef(r.view)}`},
    {header: 'ENGINE', get: (r) => (r.why?.converged ? '' : r.why?.held ? `held: ${r.why.held.reason}` : r.why?.current?.mutation ?? '')},
    {header: 'CONSOLE', get: (r) => lastLine(lab.vmOf(r.view.dsc.nodename)?.consoleLog ?? '').slice(0, 60)},
  ]);
  return `${header}\n\n${table}`;
}

/** The catalogue reference of the node's running image `base` ('' while none). */
function imageRef(v: NodeView): string {
  const base = (v.dsc.extensions.imageset as {images?: Record<string, {source?: {ref?: string}; containerState?: string}>} | undefined)?.images?.base;
  return base?.containerState === 'running' ? base.source?.ref ?? '' : '';
}

/** Up, and its image set running as asked (demo:v1 at first; whatever the operator rolled to later). */
const isActive = (v: NodeView) => v.dsc.physState === 'POWER_ON' && v.dsc.runState === 'SYNC' && ext(v.dsc, 'imageset', 'state') === 'ACTIVE' && imageRef(v) !== '';

export async function runVmDemo(options: VmDemoOptions): Promise<VmDemoResult> {
  const missing = describeMissing(missingForVms());
  if (missing) throw new CliError(`cannot run VMs here: ${missing}`, {code: 'LC_ERR_VM_UNAVAILABLE'});
  const {log} = options;
  let ending = false;
  void options.stopped.then(() => { ending = true; });
  const bootRoot = await options.layer0(log);
  const images = await demoCatalogue(log, options.cliRoot);
  let accel = options.accel;
  if (!accel) {
    const verdict = await kvmVerdict(join(bootRoot, VM_ARCH, 'vmlinuz'));
    accel = verdict.usable ? 'kvm' : 'tcg';
    log(`KVM: ${verdict.usable ? 'yes' : 'no'} (${verdict.reason}); the VMs run on ${accel.toUpperCase()}`);
  }
  if (ending) throw new Error('stopped before the VMs started');
  const started = Date.now();
  log(`starting ${options.vms} VMs with their BMCs and the daemon in a network namespace ...`);
  // Other terminals find the demo on the default local socket, unless another daemon has it already.
  const socket = defaultSocketPath();
  const lab = await startVmLab({vms: options.vms, bootRoot, cliRoot: options.cliRoot, accel, memoryMb: options.memoryMb,
    socket: socket && !await socketLive(socket) ? socket : undefined,
    hostLink: true, catalogue: images.dir, imageset: demoImageset(images.entries['demo:v1'], LAB_HTTP.url)});
  const flag = lab.url === `unix:${socket}` ? '' : ` --url ${lab.url}`;
  const consoles = Object.fromEntries(lab.vms.map((vm) => [vm.spec.name, vm.consoleLog]));
  try {
    mkdirSync(dirname(DEMO_INDEX), {recursive: true});
    writeFileSync(DEMO_INDEX, `${JSON.stringify({pid: process.pid, url: lab.url, consoles})}\n`);
    await lab.api.apply(lab.nodes);
    log(`daemon API: ${lab.url}   namespace: ${lab.network.ns.name}   bridge: ${lab.network.bridge} ${lab.network.address}/${lab.network.prefix}`);
    log(`In another terminal: layercake node list${flag}   (layercake power off n01${flag}, layercake console n01, layercake node why n01${flag})`);
    log(`  layercake exec${flag} n01 -- cat /etc/layercake-image   (ssh into the demo image's sshd; this host is ${lab.network.hostAddress} on the lab's network)`);
    log(`  export LAYERCAKE_IMAGES=${images.dir} LAYERCAKE_IMAGE_SERVER=${LAB_HTTP.url}   (the catalogue the nodes fetch from), then:`);
    log(`  layercake image roll${flag} n01 --image base=demo:v2 --wait`);
    for (const [name, file] of Object.entries(consoles)) log(`  ${name} console: ${file}`);
    let converged = 0;
    let reported = false;
    let lastSummary = '';
    let lastPrinted = 0;
    while (!ending) {
      const views = (await lab.api.listNodes()).filter((v) => lab.vmOf(v.dsc.nodename));
      converged = views.filter(isActive).length;
      const elapsed = ((Date.now() - started) / 1000).toFixed(1);
      const summary = `${converged}/${options.vms} ACTIVE`;
      if (options.interactive) {
        const rows = await Promise.all(views.map(async (view) => ({view, why: await lab.api.why(view.dsc.id).catch(() => undefined)})));
        process.stdout.write(`\u001B[H\u001B[2J${render(lab, rows, `layercake demo --vms  ${elapsed} s   ${summary}   (${accel.toUpperCase()}; Ctrl-C stops and removes everything)`)}\n`);
      } else {
        // A line when a node's state changes, and every 10 s while nothing does (the consoles show progress).
        const states = views.map((v) => `${v.dsc.nodename} ${v.dsc.physState}/${v.dsc.runState}/pxe ${ext(v.dsc, 'pxe', 'state') || 'NONE'}/images ${ext(v.dsc, 'imageset', 'state') || 'UNKNOWN'} ${imageRef(v)}`.trim()).join(', ');
        if (states !== lastSummary || Date.now() - lastPrinted > 10_000) {
          const consoles = lab.vms.map((vm) => `${vm.spec.name}: ${lastLine(vm.consoleLog).slice(0, 50)}`).join(' | ');
          log(`${elapsed.padStart(6)} s  ${summary}  (${states})  ${consoles}`);
          lastPrinted = Date.now();
        }
        lastSummary = states;
      }
      if (converged === options.vms && !reported) {
        reported = true;
        if (!options.interactive) log(`all ${options.vms} VMs run their image (ACTIVE) after ${elapsed} s; Ctrl-C stops the demo`);
        if (options.exit) break;
      }
      if (options.exit && Date.now() - started > options.timeoutS * 1000) break;
      await Promise.race([new Promise((r) => setTimeout(r, options.interactive ? 1000 : 500)), options.stopped]);
    }
    return {vms: options.vms, converged, seconds: +((Date.now() - started) / 1000).toFixed(1), accel, url: lab.url, consoles};
  } finally {
    log('stopping: VMs, BMCs, daemon, namespace, files ...');
    await lab.stop();
    removeIndexIfMine();
  }
}
