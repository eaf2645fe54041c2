/** Runs tools on this node; a failure carries the tool's own message. */
import {accessSync, constants} from 'node:fs';
import {delimiter, join} from 'node:path';
import {execa, type ExecaError} from 'execa';

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

/** Runs a tool (execa: no shell, the arguments passed as they are) and returns its standard output. */
export async function run(tool: string, args: string[], options: {timeoutMs?: number; input?: string} = {}): Promise<string> {
  try {
    const {stdout} = await execa(tool, args, {
      timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 << 20, env: {LC_ALL: 'C'}, stripFinalNewline: false,
      ...(options.input === undefined ? {stdin: 'ignore'} : {input: options.input}),
    });
    return stdout;
  } catch (error) {
    const e = error as ExecaError;
    throw new ToolError(tool, args, e.exitCode ?? null, typeof e.stderr === 'string' && e.stderr ? e.stderr : e.shortMessage ?? e.message);
  }
}
