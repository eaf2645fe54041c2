/**
 * An unknown command speaks like every other error: `Error [LC_ERR_UNKNOWN_COMMAND]: ...`, a next step
 * naming the commands of the topic that was meant, exit 2 (with --json: the `{error: ...}` object).
 */
import type {Hook} from '@oclif/core';
import {CliError, formatError} from '../cli/errors.js';

const hook: Hook<'command_not_found'> = async function ({id, argv, config}) {
  const typed = id.replaceAll(':', ' ');
  const topic = id.split(':')[0];
  const near = config.commandIDs.filter((c) => c.split(':')[0] === topic).map((c) => c.replaceAll(':', ' '));
  const hint = near.length
    ? `did you mean one of: ${near.slice(0, 8).join(', ')}? (layercake ${topic} --help)`
    : undefined;
  const error = new CliError(`no command "${typed}"`, {code: 'LC_ERR_UNKNOWN_COMMAND', hint});
  if (argv?.includes('--json')) process.stdout.write(`${JSON.stringify({error: error.toJSON()}, null, 2)}\n`);
  else process.stderr.write(formatError(error));
  process.exit(2);
};

export default hook;
