/**
 * A share of the simulated world in a process of its own (forked by WorldProcesses): its machines, their
 * BMC service and their Layer0 agents. The agents load their modules from the installed plugins, as a
 * real `layercake daemon --parent` on a node does. Stage changes go to the cluster over IPC, batched.
 */
import {monitorEventLoopDelay} from 'node:perf_hooks';
import {Config} from '@oclif/core';
import {collectModules} from '@layercake/sdk/embed';
import {layer0, type Layer0Options} from './layer0.js';
import type {Machine} from './machine.js';
import {World, type WorldOptions} from './world.js';

export interface WorldShard extends Omit<WorldOptions, 'layer0' | 'log' | 'onChange'> {
  layer0: Omit<Layer0Options, 'modules'>;
  /** The CLI whose installed plugins give the agents their modules. */
  cliRoot: string;
}

export type ToShard = {type: 'start'; shard: WorldShard} | {type: 'stop'};
export type FromShard =
  | {type: 'ready'; bmcUrl: string}
  | {type: 'changes'; machines: {id: string; stage: Machine['stage']; boots: number; lastError?: string}[]}
  | {type: 'log'; message: string}
  | {type: 'failed'; message: string}
  | {type: 'stopped'};

const send = (message: FromShard, then?: () => void) => {
  if (process.connected) process.send!(message, undefined, undefined, () => then?.());
  else then?.();
};
let world: World | undefined;
const pending = new Map<string, Machine>();

function flush(): void {
  send({type: 'changes', machines: [...pending.values()].map((m) => ({id: m.id, stage: m.stage, boots: m.boots, lastError: m.lastError}))});
  pending.clear();
}

async function start(shard: WorldShard): Promise<void> {
  const {modules, failures} = await collectModules(await Config.load(shard.cliRoot));
  for (const f of failures) send({type: 'log', message: `plugin ${f.plugin} failed to contribute its modules: ${f.error}`});
  world = new World({
    ...shard, layer0: layer0({...shard.layer0, modules}), log: (message) => send({type: 'log', message}),
    onChange: (m) => {
      if (!pending.size) setImmediate(flush);
      pending.set(m.id, m);
    },
  });
  send({type: 'ready', bmcUrl: await world.start()});
  reportStalls();
}

/** Says when this process's event loop stalled for seconds: its agents went silent meanwhile (its BMCs answer from a thread of their own). */
function reportStalls(): void {
  const lag = monitorEventLoopDelay({resolution: 50});
  lag.enable();
  setInterval(() => {
    if (lag.max > 2e9) send({type: 'log', message: `world process ${process.pid}: event loop stalled up to ${(lag.max / 1e9).toFixed(1)} s in the last 10 s`});
    lag.reset();
  }, 10_000).unref();
}

let stopping = false;

async function stop(): Promise<void> {
  stopping = true;
  await world?.stop();
  if (pending.size) flush();
  send({type: 'stopped'}, () => process.exit(0));
}

process.on('message', (message: ToShard) => {
  const done = message.type === 'start' ? start(message.shard) : stop();
  done.catch((error: Error) => send({type: 'failed', message: error.message}));
});
// The cluster went away without stopping us: power everything off and go.
process.on('disconnect', () => {
  if (!stopping) void stop().finally(() => process.exit(0));
});
