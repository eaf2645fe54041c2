/**
 * A network namespace of the harness's own, with a bridge and one tap per VM inside it. Everything on
 * that network (the daemon's DHCP server, the BMCs, the VMs) lives in the namespace, so the DHCP server
 * answers nothing outside it; deleting the namespace removes the bridge and taps with it.
 */
import {execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions} from 'node:child_process';

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000});
  } catch (error) {
    const e = error as {stderr?: string; message: string};
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}

export class Netns {
  private constructor(readonly name: string) {}

  /** Creates the namespace (replacing a leftover of the same name from a killed run) with loopback up. */
  static create(name: string): Netns {
    spawnSync('ip', ['netns', 'del', name], {stdio: 'ignore'});
    run('ip', ['netns', 'add', name]);
    const ns = new Netns(name);
    ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  ip(...args: string[]): string { return run('ip', ['-n', this.name, ...args]); }

  /** Runs a command inside the namespace and waits for it. */
  exec(cmd: string, args: string[], options: {timeoutMs?: number; env?: NodeJS.ProcessEnv} = {}): {status: number | null; stdout: string; stderr: string} {
    const r = spawnSync('ip', ['netns', 'exec', this.name, cmd, ...args], {encoding: 'utf8', timeout: options.timeoutMs ?? 30_000, env: {...process.env, ...options.env}});
    return {status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? ''};
  }

  /** Starts a command inside the namespace. */
  spawn(cmd: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.name, cmd, ...args], {stdio: ['ignore', 'pipe', 'pipe'], ...options});
  }

  /** The processes running in the namespace. */
  pids(): number[] {
    return spawnSync('ip', ['netns', 'pids', this.name], {encoding: 'utf8'}).stdout.split(/\s+/).filter(Boolean).map(Number);
  }

  /** Kills what still runs inside, then removes the namespace (its bridge and taps go with it). */
  delete(): void {
    for (const pid of this.pids()) { try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ } }
    spawnSync('ip', ['netns', 'del', this.name], {stdio: 'ignore'});
  }

  get exists(): boolean {
    return spawnSync('ip', ['netns', 'list'], {encoding: 'utf8'}).stdout.split('\n').some((l) => l.split(' ')[0] === this.name);
  }
}

export interface BridgedNetwork {
  ns: Netns;
  bridge: string;
  /** The head's address on the bridge (the daemon's pxe serverIp) and the prefix length. */
  address: string;
  prefix: number;
  /** One tap per VM, in VM order. */
  taps: string[];
  /** The host's own address on the bridge (through a veth pair), when the network has a host link. */
  hostAddress?: string;
  /** Removes the host link (if any) and the namespace with everything in it. */
  delete(): void;
}

/**
 * A veth pair from the host into the namespace's bridge, with `address` on the host's end: the host
 * reaches the nodes' addresses directly (`layercake exec` over ssh, as on a cluster's management
 * network). The host's end goes with the namespace (deleting one end of a pair deletes both). Refused
 * when the host already has an address or route in the subnet (another lab's link): two would collide.
 */
function addHostLink(ns: Netns, bridge: string, address: string, prefix: number): string {
  const subnet = `${address}/${prefix}`;
  const taken = run('ip', ['-4', 'route', 'show', 'match', subnet]).split('\n').filter((l) => l.trim() && !l.startsWith('default'));
  if (taken.length) throw new Error(`the host already has a route into ${subnet} (${taken[0]!.trim()}): another VM lab with a host link runs; stop it first`);
  const host = `${ns.name.slice(0, 12)}-h`; // interface names are at most 15 characters
  run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', 'hostlink', 'netns', ns.name]);
  run('ip', ['addr', 'add', subnet, 'dev', host]);
  run('ip', ['link', 'set', host, 'up']);
  ns.ip('link', 'set', 'hostlink', 'master', bridge);
  ns.ip('link', 'set', 'hostlink', 'up');
  return host;
}

/**
 * Deletes the host's end of the link, which deletes the pair. Deleting the namespace would not always do it:
 * a mount namespace made while the lab ran (any `unshare --mount` on the host, e.g. a container) holds a
 * copy of the namespace's /run/netns mount, which keeps the namespace, and the link's route, alive (seen here).
 */
function removeHostLink(host: string | undefined): void {
  if (host) spawnSync('ip', ['link', 'del', host], {stdio: 'ignore'});
}

/**
 * A namespace holding a bridge with `address/prefix` and `taps` tap devices on it, all up; with
 * `hostAddress`, also a link from the host into the bridge (the host has that address on it).
 */
export function bridgedNetwork(name: string, options: {address: string; prefix: number; taps: number; hostAddress?: string}): BridgedNetwork {
  const ns = Netns.create(name);
  let host: string | undefined;
  const remove = () => {
    removeHostLink(host);
    ns.delete();
  };
  try {
    const bridge = 'br0';
    ns.ip('link', 'add', bridge, 'type', 'bridge');
    ns.ip('addr', 'add', `${options.address}/${options.prefix}`, 'dev', bridge);
    ns.ip('link', 'set', bridge, 'up');
    const taps = Array.from({length: options.taps}, (_, k) => `tap${k + 1}`);
    for (const tap of taps) {
      ns.ip('tuntap', 'add', 'dev', tap, 'mode', 'tap');
      ns.ip('link', 'set', tap, 'master', bridge);
      ns.ip('link', 'set', tap, 'up');
    }
    if (options.hostAddress) host = addHostLink(ns, bridge, options.hostAddress, options.prefix);
    return {ns, bridge, address: options.address, prefix: options.prefix, taps, hostAddress: options.hostAddress, delete: remove};
  } catch (error) {
    remove();
    throw error;
  }
}
