/**
 * What `layercake daemon` does before the runtime starts: merge flags over the config file, collect the
 * plugins' modules through the `layercake:modules` hook, and describe the effective configuration
 * (`--print-config`: every module with its settings, every mutation with its timeout).
 */
import type {Config} from '@oclif/core';
import {type DaemonConfig, moduleSettings, parseDaemonConfig} from './config.js';
import {formatDuration} from '../model/duration.js';
import {LayercakeError} from '../model/errors.js';
import {Registry, type MutationOverride} from '../model/registry.js';
import type {ModuleSpec} from '../model/contract.js';
import * as kit from '../model/plugin-kit.js';

/** Keys of the shared config file that only the client reads. */
const CLIENT_KEYS = ['url', 'token', 'tokenFile'];

export interface DaemonFlags {
  'state-dir'?: string;
  listen?: string;
  parent?: string;
  id?: string;
  nodename?: string;
  freeze?: boolean;
  'log-level'?: string;
  'join-secret-file'?: string;
}

/** The config file as the CLI loaded it (cli/config.ts): its settings, and the file they came from. */
export interface ConfigFile {
  config: Record<string, unknown>;
  filepath?: string;
}

/** Flags over the file over defaults, validated by the daemon's schema (an error names the key and file). */
export function effectiveConfig(flags: DaemonFlags, loaded: ConfigFile): DaemonConfig {
  const fromFile = Object.fromEntries(Object.entries(loaded.config).filter(([k]) => !CLIENT_KEYS.includes(k)));
  const fromFlags: Record<string, unknown> = Object.fromEntries(Object.entries({
    stateDir: flags['state-dir'], listen: flags.listen, parent: flags.parent, id: flags.id, nodename: flags.nodename,
    freeze: flags.freeze, logLevel: flags['log-level'],
  }).filter(([, v]) => v !== undefined));
  const secretFile = flags['join-secret-file'];
  if (secretFile) fromFlags.sync = {...(fromFile.sync as Record<string, unknown> | undefined), joinSecretFile: secretFile};
  try {
    return parseDaemonConfig({...fromFile, ...fromFlags}, loaded.filepath ? `config ${loaded.filepath}` : 'config');
  } catch (error) {
    if (error instanceof LayercakeError && error.code !== 'LC_ERR_INPUT_INVALID') throw error; // e.g. LC_ERR_SYNC_CONFIG
    throw new LayercakeError((error as Error).message, 'LC_ERR_CONFIG_INVALID', {hint: 'see docs/cli.md for the daemon\'s settings (layercake daemon --print-config shows the effective ones)'});
  }
}

export interface HookReport {
  modules: ModuleSpec[];
  /** Plugins whose hook failed: they are left out, and the daemon says so. */
  failures: {plugin: string; error: string}[];
}

/** Run `layercake:modules` in every plugin; a broken plugin is reported, not fatal. */
export async function collectModules(config: Config): Promise<HookReport> {
  // The hook's options (model/modules-hook.ts): a plain JavaScript plugin takes defineModule and z from the kit.
  const result = await config.runHook('layercake:modules', {sdk: kit});
  const modules: ModuleSpec[] = [];
  for (const s of result.successes) modules.push(...((s.result ?? []) as ModuleSpec[]));
  const failures = result.failures.map((f) => ({plugin: f.plugin.name, error: f.error.message}));
  const seen = new Map<string, string>();
  for (const m of modules) {
    if (seen.has(m.name)) throw new LayercakeError(`two plugins contribute a module named "${m.name}"`, 'LC_ERR_PLUGIN_CONFLICT', {hint: 'uninstall one of them (layercake plugins)'});
    seen.set(m.name, m.name);
  }
  return {modules, failures};
}

export interface PrintedConfig {
  config: DaemonConfig;
  configFile?: string;
  modules: {
    name: string;
    description: string;
    enabled: boolean;
    maxConcurrent?: number;
    settings: unknown;
    mutations: {id: string; mutates: Record<string, [string, string]>; requires: Record<string, unknown>; excludes: Record<string, unknown>; context: string; timeout: string; timeoutMs: number; failTo?: {url: string; value: string}}[];
  }[];
  pluginFailures: {plugin: string; error: string}[];
}

/** The effective configuration, like the original's -printrc: modules with settings, mutations with timeouts. */
export function describeConfig(config: DaemonConfig, report: HookReport, configFile?: string): PrintedConfig {
  const settings = report.modules.map((spec) => {
    try {
      return {spec, settings: moduleSettings(spec, config.modules[spec.name] as Record<string, unknown> | undefined)};
    } catch (error) {
      throw new LayercakeError((error as Error).message, 'LC_ERR_CONFIG_INVALID', {hint: `fix modules.${spec.name} in the config file`});
    }
  });
  const overrides: Record<string, Record<string, MutationOverride>> = Object.fromEntries(settings.map((m) => [m.spec.name, m.settings.mutations]));
  const registry = new Registry(overrides);
  for (const m of settings) if (!m.settings.disable) registry.registerModule(m.spec);
  const mutations = registry.mutations();
  return {
    config: {...config, api: config.api.token ? {...config.api, token: '(secret)'} : config.api},
    configFile,
    modules: settings.map(({spec, settings: s}) => ({
      name: spec.name,
      description: spec.description ?? '',
      enabled: !s.disable,
      maxConcurrent: s.maxConcurrent ?? spec.maxConcurrent,
      settings: s.config,
      mutations: mutations.filter((m) => m.module === spec.name).map((m) => ({
        id: m.id, mutates: m.mutates, requires: m.requires, excludes: m.excludes, context: m.context,
        timeout: m.timeoutMs ? formatDuration(m.timeoutMs) : 'none', timeoutMs: m.timeoutMs, failTo: m.failTo,
      })),
    })),
    pluginFailures: report.failures,
  };
}
