/**
 * Cluster settings for the config initrd, taken from the head's daemon config (the file `layercake
 * daemon` reads): what a child agent must agree on with its parent. Nothing secret goes in: the join
 * secret arrives per node on the kernel command line, the API token never leaves the head.
 */

/** The Debian name of this machine's architecture, which nodes' `arch` field uses (x64 → amd64). */
export function defaultArch(arch: string = process.arch): string {
  return ({x64: 'amd64', arm64: 'arm64', ia32: 'i386', arm: 'armhf', ppc64: 'ppc64el', s390x: 's390x', riscv64: 'riscv64'} as Record<string, string>)[arch] ?? arch;
}

/** The port of a HOST:PORT listen address, if it names one. */
function portOf(listen: unknown): number | undefined {
  if (typeof listen !== 'string') return undefined;
  const m = /:(\d{1,5})$/.exec(listen);
  return m ? Number(m[1]) : undefined;
}

/** Where a node's agent serves its API (root's default socket: `layercake busy` finds it with no --url). */
export const AGENT_SOCKET = '/run/layercake/api.sock';

/**
 * The agent's daemon config: the parent's sync port (its `sync.listen`, default 31415) and the sync
 * timers both sides must share; the agent's log level; the imageset module pointed at the node's
 * ImageAPI service; its API on the local socket only.
 */
export function agentSettings(headConfig: Record<string, unknown>, opts: {logLevel?: string} = {}): Record<string, unknown> {
  const sync = (headConfig.sync ?? {}) as Record<string, unknown>;
  const shared = Object.fromEntries(['helloInterval', 'deadInterval', 'fullStateInterval', 'maxDatagram'].filter((k) => sync[k] !== undefined).map((k) => [k, sync[k]]));
  const parentPort = portOf(sync.listen);
  return {
    logLevel: opts.logLevel ?? 'info',
    sync: {...shared, ...(parentPort ? {parentPort} : {})},
    modules: {imageset: {url: 'http://127.0.0.1:8080'}},
    // The agent's API, on the node only: `layercake busy|free` (a scheduler's prolog and epilog) use it.
    api: {socket: AGENT_SOCKET},
  };
}
