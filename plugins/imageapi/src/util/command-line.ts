/**
 * A container's command given as one line: split into arguments the way a POSIX shell would, by
 * shell-quote (quotes, backslashes), with nothing expanded: `$HOME` and `*.c` stay as written. Shell
 * operators (`;`, `|`, `&&`, redirections) and comments have no meaning without a shell, so they are
 * refused; give `sh -c '...'` for those.
 */
import {parse} from 'shell-quote';

/** Words, backslash escapes, '...' and "..." (with \" inside) to the end: anything else has an open quote. */
const BALANCED = /^(?:[^'"\\]|\\[\s\S]|'[^']*'|"(?:[^"\\]|\\[\s\S])*")*$/;

export function splitCommand(line: string): string[] {
  if (!BALANCED.test(line)) throw new Error(`unterminated quote in ${JSON.stringify(line)}`);
  return parse(line, (name) => `$${name}`).map((entry) => {
    if (typeof entry === 'string') return entry;
    if ('pattern' in entry) return entry.pattern;
    const what = 'comment' in entry ? `a comment (#${entry.comment})` : `the shell operator ${JSON.stringify(entry.op)}`;
    throw new Error(`${what} needs a shell: quote it, or run the command as sh -c '...'`);
  });
}
