/**
 * The configuration file, shared by the daemon and the client commands, found with cosmiconfig:
 * `layercake.config.{yaml,yml,json,js,mjs,cjs}`, `.layercakerc[.json|.yaml|.yml|.js|.mjs|.cjs]` or a
 * `layercake` key in package.json, searched from the working directory up to the home directory, then
 * `~/.config/layercake/config.{yaml,json,...}`. `--config FILE` or LAYERCAKE_CONFIG names one explicitly.
 *
 * Precedence everywhere: flags, then environment variables, then the file, then defaults.
 */
import {existsSync, readFileSync, statSync} from 'node:fs';
import {dirname, isAbsolute, resolve} from 'node:path';
import {cosmiconfig} from 'cosmiconfig';
import {defaultSocketPath} from '../api/local-socket.js';
import {checkFileConfig, type FileConfig} from './config-keys.js';
import {CliError} from './errors.js';

export const DEFAULT_PORT = 3141;
export const DEFAULT_LISTEN = `127.0.0.1:${DEFAULT_PORT}`;
export const DEFAULT_STATE_DIR = '.layercake';
/** The file, inside the state directory, where the daemon keeps its API bearer token (mode 0640, group layercake). */
export const TOKEN_FILE = 'token';

const moduleName = 'layercake';
const searchPlaces = [
  'package.json',
  `${moduleName}.config.yaml`, `${moduleName}.config.yml`, `${moduleName}.config.json`,
  `${moduleName}.config.js`, `${moduleName}.config.mjs`, `${moduleName}.config.cjs`,
  `.${moduleName}rc`, `.${moduleName}rc.json`, `.${moduleName}rc.yaml`, `.${moduleName}rc.yml`,
  `.${moduleName}rc.js`, `.${moduleName}rc.mjs`, `.${moduleName}rc.cjs`,
];

export interface LoadedConfig {
  /** The file's contents, validated, with relative paths resolved against the file's directory. */
  config: FileConfig;
  /** The file it came from, if any. */
  filepath?: string;
}

/** Load the configuration file: the one named, or the first one found from `cwd`. A broken file is an error. */
export async function loadConfig(opts: {file?: string; cwd?: string} = {}): Promise<LoadedConfig> {
  const explorer = cosmiconfig(moduleName, {searchPlaces, searchStrategy: 'global', cache: false});
  const file = opts.file ?? process.env.LAYERCAKE_CONFIG;
  let result: {config: unknown; filepath: string; isEmpty?: boolean} | null;
  try {
    result = file ? await explorer.load(resolve(opts.cwd ?? process.cwd(), file)) : await explorer.search(opts.cwd);
  } catch (error) {
    // cosmiconfig says "YAML Error in FILE:" and puts the parser's reason (with a code excerpt) below.
    const lines = (error as Error).message.split('\n').map((l) => l.trim()).filter(Boolean);
    const reason = lines.length > 1 && lines[0].endsWith(':') ? `${lines[0]} ${lines[1]}` : lines[0];
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CliError(`config file ${file} does not exist`, {code: 'LC_ERR_CONFIG_MISSING', hint: 'check the --config path or LAYERCAKE_CONFIG, or run `layercake init` to write one'});
    }
    throw new CliError(`cannot read the config file: ${reason}`, {code: 'LC_ERR_CONFIG_PARSE', hint: 'fix the file\'s syntax (YAML or JSON)'});
  }
  if (!result || result.isEmpty) return {config: {}, filepath: result?.filepath};
  const problem = checkFileConfig(result.config ?? {});
  if (problem) {
    const where = problem.path.join('.') || '(top level)';
    throw new CliError(`config file ${result.filepath}: ${where}: ${problem.message}`, {code: 'LC_ERR_CONFIG_INVALID', hint: 'see docs/cli.md for the config keys'});
  }
  const config = (result.config ?? {}) as FileConfig;
  const base = dirname(result.filepath);
  for (const key of ['stateDir', 'tokenFile'] as const) {
    const value = config[key];
    if (value && !isAbsolute(value)) config[key] = resolve(base, value);
  }
  const socket = config.api?.socket;
  if (socket && socket !== 'none' && !isAbsolute(socket)) config.api!.socket = resolve(base, socket);
  return {config, filepath: result.filepath};
}

/** Normalize an API address: `host:port` or `:port` gets `http://`; a trailing slash is dropped; `unix:PATH` is the local socket. */
export function normalizeUrl(url: string, cwd: string = process.cwd()): string {
  let u = url.trim();
  if (u.startsWith('unix:')) {
    const path = u.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path) throw new CliError(`'${url}' names no socket`, {code: 'LC_ERR_CONFIG_URL', hint: 'give --url as unix:/run/layercake/api.sock'});
    return `unix:${resolve(cwd, path)}`;
  }
  if (/^:\d+$/.test(u)) u = `127.0.0.1${u}`;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(u)) u = `http://${u}`;
  let parsed: URL;
  try {
    parsed = new URL(u);
  } catch {
    throw new CliError(`'${url}' is not an API address`, {code: 'LC_ERR_CONFIG_URL', hint: 'give --url as http://HOST:PORT, HOST:PORT or unix:/path/to/api.sock'});
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new CliError(`'${url}' is not an http(s) or unix: address`, {code: 'LC_ERR_CONFIG_URL', hint: 'give --url as http://HOST:PORT or unix:/path/to/api.sock'});
  }
  return parsed.toString().replace(/\/$/, '');
}

/** The address a client uses to reach a daemon that listens on `listen` (a wildcard host means this host). */
export function urlFromListen(listen: string): string {
  const m = /^(.*):(\d+)$/.exec(listen.trim());
  if (!m) return normalizeUrl(listen);
  let host = m[1].replace(/^\[(.*)\]$/, '$1');
  if (host === '' || host === '0.0.0.0' || host === '::') host = '127.0.0.1';
  return normalizeUrl(host.includes(':') ? `[${host}]:${m[2]}` : `${host}:${m[2]}`);
}

export interface ClientSettings {
  url: string;
  token?: string;
  /** Where the url came from, for error messages ("--url", "LAYERCAKE_URL", "config file X", "default"). */
  urlSource: string;
}

/** Whether a socket file exists at `path` (whether this user may use it is the daemon's answer to give). */
function socketExists(path: string | undefined): path is string {
  try {
    return Boolean(path) && statSync(path!).isSocket();
  } catch {
    return false;
  }
}

/**
 * Where the client commands find the daemon and its token: flags, then LAYERCAKE_URL / LAYERCAKE_TOKEN,
 * then the config file (`url`, `token`, `tokenFile`, `api.token`), then the defaults: the local socket
 * (`api.socket`, else the default path) when it exists, else the address the configured or default
 * `listen` implies with the token file in the state directory when this user can read it.
 */
export function clientSettings(
  flags: {url?: string; token?: string},
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): ClientSettings {
  const {config, filepath} = loaded;
  let url: string;
  let urlSource: string;
  if (flags.url) [url, urlSource] = [flags.url, '--url'];
  else if (env.LAYERCAKE_URL) [url, urlSource] = [env.LAYERCAKE_URL, 'LAYERCAKE_URL'];
  else if (config.url) [url, urlSource] = [config.url, `url in ${filepath}`];
  else if (socketExists(localSocket(config, env))) [url, urlSource] = [`unix:${localSocket(config, env)}`, 'the local socket'];
  else if (config.listen) [url, urlSource] = [urlFromListen(config.listen), `listen in ${filepath}`];
  else [url, urlSource] = [`http://${DEFAULT_LISTEN}`, 'the default'];

  let token = flags.token || env.LAYERCAKE_TOKEN || config.token || config.api?.token;
  if (!token) {
    const file = config.tokenFile ?? resolve(config.stateDir ?? resolve(cwd, DEFAULT_STATE_DIR), TOKEN_FILE);
    if (existsSync(file)) {
      try {
        token = readFileSync(file, 'utf8').trim() || undefined;
      } catch {
        // Not readable by this user: the daemon will say a token is needed, which is the useful message.
      }
    }
  }
  return {url: normalizeUrl(url, cwd), token, urlSource};
}

/** The local socket a daemon of this config listens on (api.socket, else the default path). */
function localSocket(config: FileConfig, env: NodeJS.ProcessEnv): string | undefined {
  const socket = config.api?.socket;
  if (socket === 'none') return undefined;
  return socket ?? defaultSocketPath(env);
}
