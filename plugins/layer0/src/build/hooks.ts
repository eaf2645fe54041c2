/**
 * Which engine modules the agent bundle carries: those of the head's CLI, found as oclif finds them (the
 * `layercake:modules` hook of every installed plugin), so that a node's agent plans with every module its
 * parent has. A path to the parent's goal may go through another module's mutation: `power off` of a
 * SYNC node is the node's imageset/SYNCtoINIT, then the parent's ipmi/ONtoOFF, and an agent that does not
 * know ipmi sees no path and never stands its node down.
 */
import {resolve} from 'node:path';
import {Config} from '@oclif/core';

/** The `layercake:modules` hook files of every plugin of a loaded CLI, in plugin-name order. */
export function moduleHooksOf(config: Config): string[] {
  return config.getPluginsList().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).flatMap((p) => {
    const hooks = (p.hooks['layercake:modules'] ?? []) as (string | {target: string})[];
    return hooks.map((h) => resolve(p.root, typeof h === 'string' ? h : h.target));
  });
}

/** The same for the layercake CLI installed at `cliRoot` (for callers that are not an oclif command). */
export async function cliModuleHooks(cliRoot: string): Promise<string[]> {
  return moduleHooksOf(await Config.load(cliRoot));
}
