/**
 * The base class of every layercake command (plugins' commands included, through @layercake/sdk):
 *
 * - `--json`: the value `run()` returns is the machine output; tables and progress only without it;
 * - `--url`, `--token`, `--config`: where the daemon is (flags, then LAYERCAKE_URL / LAYERCAKE_TOKEN /
 *   LAYERCAKE_CONFIG, then the config file, then the local socket when it exists, else
 *   http://127.0.0.1:3141 and the local token file);
 * - errors: one line with what went wrong, a next step ("Try this: ..."), a code, a non-zero exit;
 *   with --json the same as `{error: {code, message, hint, node, url, value, expected}}`.
 */
import {Command, Flags, type Interfaces} from '@oclif/core';
import {ApiClient} from '../api/client/client.js';
import {clientSettings, loadConfig, type LoadedConfig} from './config.js';
import {CliError, type CliErrorDetails, formatError, toCliError} from './errors.js';
import {isInteractive} from './prompts.js';

export type CommandFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;
export type CommandArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>;

/**
 * A command that does not talk to a daemon (`daemon`, `init`): --json, --config and the error handling.
 */
export abstract class LocalCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    config: Flags.string({
      summary: 'Configuration file (default: LAYERCAKE_CONFIG, else layercake.config.yaml or .layercakerc found from here).',
      helpGroup: 'GLOBAL',
    }),
  };

  protected flags!: CommandFlags<T>;
  protected args!: CommandArgs<T>;
  /** Every positional argument as given (for commands with `strict = false`). */
  protected argvRest: string[] = [];
  private loaded?: LoadedConfig;

  public override async init(): Promise<void> {
    await super.init();
    const ctor = this.ctor as typeof LocalCommand;
    const {args, flags, argv} = await this.parse({
      flags: ctor.flags,
      baseFlags: ctor.baseFlags,
      enableJsonFlag: ctor.enableJsonFlag,
      args: ctor.args,
      strict: ctor.strict,
    });
    this.flags = flags as CommandFlags<T>;
    this.args = args as CommandArgs<T>;
    this.argvRest = argv as string[];
  }

  /** The configuration file's contents (loaded once). */
  protected async fileConfig(): Promise<LoadedConfig> {
    this.loaded ??= await loadConfig({file: (this.flags as {config?: string}).config});
    return this.loaded;
  }

  /** Whether the command may ask questions (a terminal on both ends, and no --json). */
  protected interactive(): boolean {
    return isInteractive(this.jsonEnabled());
  }

  /** Fail with a one-line reason and a next step. */
  protected fail(message: string, details: CliErrorDetails): never {
    throw new CliError(message, details);
  }

  protected override async catch(err: Error & {exitCode?: number}): Promise<unknown> {
    const error = toCliError(err, this.id) as Error & {exitCode?: number; oclif?: {exit?: number}};
    process.exitCode = error.oclif?.exit ?? error.exitCode ?? 1;
    // Ctrl-C at a prompt: the operator knows, so nothing more is said (the shell's convention: 130).
    if (error instanceof CliError && error.code === 'LC_ERR_INTERRUPTED' && !this.jsonEnabled()) return this.exit(130);
    // Our own errors print as one unwrapped line (greppable, whatever the terminal width) and a next step.
    if (error instanceof CliError && !this.jsonEnabled()) process.stderr.write(formatError(error));
    else await super.catch(error); // prints the JSON error, or rethrows for oclif to print
    // Exit now, whatever is still open (a daemon that failed half-way through its start has servers up).
    return this.exit(Number(process.exitCode) || 1);
  }

  protected override toErrorJson(err: unknown): unknown {
    if (err instanceof CliError) return {error: err.toJSON()};
    return {error: {code: 'LC_ERR_INTERNAL', message: (err as Error)?.message?.split('\n')[0] ?? String(err)}};
  }
}

/** A command that talks to a daemon through the typed API client: adds --url and --token. */
export abstract class BaseCommand<T extends typeof Command> extends LocalCommand<T> {
  static override baseFlags = {
    ...LocalCommand.baseFlags,
    url: Flags.string({
      summary: 'Address of the daemon API: http://HOST:PORT or unix:/path/to/api.sock (default: LAYERCAKE_URL, the config file, the local socket when it exists, then http://127.0.0.1:3141).',
      helpGroup: 'GLOBAL',
    }),
    token: Flags.string({
      summary: 'Bearer token for the API over TCP; the local socket needs none (default: LAYERCAKE_TOKEN, the config file, then <stateDir>/token).',
      helpGroup: 'GLOBAL',
    }),
  };

  private apiClient?: ApiClient;

  /** The API client for the daemon this command talks to. */
  protected async api(): Promise<ApiClient> {
    if (!this.apiClient) {
      const f = this.flags as {url?: string; token?: string};
      const settings = clientSettings({url: f.url, token: f.token}, await this.fileConfig());
      this.apiClient = new ApiClient({url: settings.url, token: settings.token, source: settings.urlSource});
    }
    return this.apiClient;
  }
}
