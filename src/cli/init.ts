/** `layercake init`: the starter files, a daemon/client configuration and a cluster file. */
import {existsSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {stringify} from 'yaml';
import {CliError} from './errors.js';
import {expandHostlist} from './hostlist.js';

export interface InitAnswers {
  dir: string;
  listen: string;
  stateDir: string;
  /** A hostlist of the nodes to start with, e.g. n[01-04]; empty for none. */
  nodes: string;
  platform: string;
  arch: string;
  /** Ask for the nodes to be up (physState POWER_ON, runState SYNC) once applied. */
  powerOn: boolean;
  force: boolean;
}

export interface InitResult {
  files: string[];
  nodes: string[];
}

export function configFileText(a: InitAnswers): string {
  return `# layercake configuration (read by \`layercake daemon\` and by the client commands).
# Flags and LAYERCAKE_* environment variables override it. \`layercake daemon --print-config\` shows the
# effective settings, with every module and mutation.
${stringify({stateDir: a.stateDir, listen: a.listen, logLevel: 'info'}).trimEnd()}
# Who may change state (docs/api.md): over TCP every request needs the token (<stateDir>/token, readable by
# group layercake); on this machine the local Unix socket needs none, its file permissions decide:
#   api:
#     socket: /run/layercake/api.sock   # the default as root ($XDG_RUNTIME_DIR/layercake/api.sock otherwise); none disables it
# The engine's retries before a failing node is held (layercake node why explains it):
retry:
  max: 5
  base: 2s
  max_backoff: 2m
# Per-module settings: modules.<name>.<key>, plus maxConcurrent and per-mutation timeouts, e.g.
#   modules:
#     power-ipmi:
#       maxConcurrent: 50
#       mutations: {on: {timeout: 30s}}
modules: {}
`;
}

export function clusterFileText(a: InitAnswers): {text: string; names: string[]} {
  const names = a.nodes.trim() ? expandHostlist(a.nodes) : [];
  const nodes = names.map((nodename) => ({
    nodename,
    ...(a.arch ? {arch: a.arch} : {}),
    ...(a.platform ? {platform: a.platform} : {}),
    ...(a.powerOn ? {physState: 'POWER_ON', runState: 'SYNC'} : {}),
  }));
  const text = `# Nodes for \`layercake apply -f cluster.yaml\`. Applying is idempotent: edit and apply again.
# Each node may carry extensions (\`layercake extensions\` lists what the installed plugins offer), e.g.
#   extensions:
#     ipv4: {mac: "52:54:00:00:00:01", ip: 10.0.0.11}
${stringify({nodes}).trimEnd()}
`;
  return {text, names};
}

/** Write both files; refuses to overwrite unless `force`. */
export function writeInitFiles(a: InitAnswers): InitResult {
  const config = join(a.dir, 'layercake.config.yaml');
  const cluster = join(a.dir, 'cluster.yaml');
  const existing = [config, cluster].filter((f) => existsSync(f));
  if (existing.length && !a.force) {
    throw new CliError(`${existing.join(' and ')} already exist${existing.length === 1 ? 's' : ''}`, {code: 'LC_ERR_INIT_EXISTS', hint: 'pass --force to overwrite, or --dir to write elsewhere'});
  }
  const {text, names} = clusterFileText(a);
  writeFileSync(config, configFileText(a));
  writeFileSync(cluster, text);
  return {files: [config, cluster], nodes: names};
}
