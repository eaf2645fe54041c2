/**
 * Questions to the operator, only ever on a terminal: anything that would ask when stdin or stdout is
 * not a TTY (scripts, CI, --json) fails with a message naming the flag that answers it instead.
 */
import {CliError} from './errors.js';

/** Whether we may ask: both ends are a terminal (and the command is not producing JSON). */
export function isInteractive(json = false): boolean {
  return !json && Boolean(process.stdin.isTTY) && Boolean(process.stdout.isTTY);
}

/**
 * Ask before a dangerous action. `yes` (the --yes flag) skips the question. Off a terminal there is
 * nobody to ask, so the action is refused unless `yes` is given.
 */
export async function confirmAction(message: string, opts: {yes?: boolean; json?: boolean; flag?: string} = {}): Promise<void> {
  if (opts.yes) return;
  if (!isInteractive(opts.json)) {
    throw new CliError(`${message.replace(/\?$/, '')}: refusing without confirmation`, {code: 'LC_ERR_CONFIRM', hint: `pass ${opts.flag ?? '--yes'} to confirm when not on a terminal`, exit: 2});
  }
  // Loaded on demand: most commands never ask, and the sdk (which re-exports this) should load fast.
  const {confirm} = await import('@inquirer/prompts');
  const ok = await confirm({message, default: false});
  if (!ok) throw new CliError('cancelled, nothing was changed', {code: 'LC_ERR_CANCELLED'});
}
