/**
 * Layer0 of a simulated machine: the real child agent (a layercake daemon with --parent, the sync
 * protocol and the imageset module) and an ImageAPI service in simulate mode (containers without root).
 */
import {rm} from 'node:fs/promises';
import {join} from 'node:path';
import type {ModuleSpec} from '@layercake/sdk';
import {parseDaemonConfig, startDaemon, type Daemon} from '@layercake/sdk/embed';
import {ImageApiService, startServer} from '@layercake/plugin-imageapi';

/**
 * The Layer1 images of the simulated world: rolling to any other path fails as on a real node ("does not
 * exist"). Every machine of the process sees this one set: a test adds a path as an operator copies an image.
 */
export const SIM_IMAGES = new Set(['/images/layer1-base.sqfs', '/images/layer1-v2.sqfs']);
import type {Layer0Factory} from './machine.js';

export interface Layer0Options {
  /** Where each machine keeps its agent's and ImageAPI's state (`<dir>/<node id>`). */
  dir: string;
  /** The parent's sync port (the boot script names the parent's address, `layercake.parent=`). */
  parentSyncPort: number;
  /** Sync timers of the agents (ms). */
  helloInterval?: number;
  deadTime?: number;
  logLevel?: string;
  /** Each agent serves its API on a Unix socket in its state dir (`<dir>/<id>/agent/api.sock`), as a real node's does, for `layercake busy|free` (off by default: large clusters need no thousand API servers). */
  agentSockets?: boolean;
  /** Every module the parent has: the agent plans with all of them and starts only those it must run. */
  modules: ModuleSpec[];
}

export function layer0(options: Layer0Options): Layer0Factory {
  return async (machine, args) => {
    const dir = join(options.dir, machine.id);
    await rm(dir, {recursive: true, force: true}); // Layer0 is a RAM disk: every boot starts empty
    const imageapi = await ImageApiService.open({stateDir: join(dir, 'imageapi'), simulate: true, simulatedFiles: SIM_IMAGES});
    const server = await startServer(imageapi, {listen: '127.0.0.1:0'});
    try {
      const config = parseDaemonConfig({
        stateDir: join(dir, 'agent'), listen: 'none', id: args.id, nodename: args.name, api: {socket: options.agentSockets ? join(dir, 'agent', 'api.sock') : 'none'},
        parent: `udp://${args.parent}:${options.parentSyncPort}`, logLevel: options.logLevel ?? 'warn',
        sync: {listen: `${args.ip ?? '127.0.0.1'}:0`, ...(options.helloInterval ? {helloInterval: options.helloInterval} : {}), ...(options.deadTime ? {deadInterval: options.deadTime} : {})},
        modules: {imageset: {url: server.url, pollInterval: 60_000}}, // changes arrive through the service's /watch
      });
      const start = () => startDaemon({config, modules: options.modules, joinSecret: args.secret || undefined, logTo: 'stderr'});
      let agent: Daemon | undefined = await start();
      return {
        get agent() { return agent; },
        async killAgent() {
          const dying = agent;
          agent = undefined;
          await dying?.stop();
        },
        // As Layer0's init does when the agent died: the same agent again, its state dir kept (a RAM
        // disk outlives the agent), its in-memory dsc gone.
        async startAgent() {
          agent ??= await start();
        },
        async stop() {
          await agent?.stop();
          await server.close();
          await imageapi.close({purge: true});
        },
      };
    } catch (error) {
      await server.close();
      await imageapi.close({purge: true});
      throw error;
    }
  };
}
