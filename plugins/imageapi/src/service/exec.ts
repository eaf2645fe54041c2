/** Runs a tool and returns its output; a failure carries the tool's own message. */
import {execFile} from 'node:child_process';
import {accessSync, constants} from 'node:fs';
import {delimiter, join} from 'node:path';

export class ToolError extends Error {
  constructor(readonly tool: string, readonly args: string[], readonly code: number | null, readonly stderr: string) {
    super(`${tool} ${args.join(' ')}: ${stderr.trim().split('\n').filter(Boolean).at(-1) ?? `exited with ${code}`}`);
    this.name = 'ToolError';
  }
}

const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The full path of a tool, or undefined if this node does not have it. */
export function which(tool: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SEARCH];
  for (const dir of dirs) {
    const path = join(dir, tool);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // try the next directory
    }
  }
  return undefined;
}

export function run(tool: string, args: string[], options: {timeoutMs?: number; input?: string} = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(tool, args, {timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 << 20, env: {...process.env, LC_ALL: 'C'}}, (error, stdout, stderr) => {
      if (error) reject(new ToolError(tool, args, typeof error.code === 'number' ? error.code : null, stderr || error.message));
      else resolve(stdout);
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}
