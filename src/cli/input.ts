/**
 * Reading what operators write: node files (YAML or JSON, a list of nodes or `{nodes: [...]}`, from a
 * file or stdin). `URL=value` assignments on the command line are ./assignments.ts (no YAML parser needed).
 */
import {readFileSync} from 'node:fs';
import {LineCounter, parseDocument} from 'yaml';
import {kindOf} from '../model/issues.js';
import {CliError} from './errors.js';

/** Read all of stdin (for `-f -`). */
export async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) {
    throw new CliError('-f - reads nodes from stdin, but stdin is a terminal', {code: 'LC_ERR_INPUT', exit: 2, hint: 'pipe a file in (cat cluster.yaml | layercake apply -f -) or give a path'});
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Parse a node document. YAML is a superset of JSON, so one parser reads both; a syntax error names
 * the line and column. The document is a list of nodes, `{nodes: [...]}`, or a single node.
 */
export function parseNodesDocument(text: string, source: string): unknown[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {prettyErrors: false, uniqueKeys: true, lineCounter});
  if (doc.errors.length) {
    const e = doc.errors[0];
    const pos = lineCounter.linePos(e.pos[0]);
    const reason = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new CliError(`${source}: not valid YAML or JSON at line ${pos.line}, column ${pos.col}: ${reason}`, {
      code: 'LC_ERR_INPUT_SYNTAX', exit: 2, hint: 'fix the file; nothing was changed',
    });
  }
  const value = doc.toJS({maxAliasCount: 1000}) as unknown;
  if (value === null || value === undefined) {
    throw new CliError(`${source} is empty`, {code: 'LC_ERR_INPUT_EMPTY', exit: 2, hint: 'write a list of nodes, e.g. "- nodename: n01"'});
  }
  if (Array.isArray(value)) return value;
  if (typeof value === 'object') {
    const nodes = (value as {nodes?: unknown}).nodes;
    if (nodes !== undefined) {
      if (!Array.isArray(nodes)) throw new CliError(`${source}: "nodes" must be a list`, {code: 'LC_ERR_INPUT_SHAPE', exit: 2, hint: 'write nodes: followed by "- nodename: n01" items'});
      return nodes;
    }
    return [value];
  }
  throw new CliError(`${source}: expected a list of nodes or {nodes: [...]}, got ${kindOf(value)}`, {code: 'LC_ERR_INPUT_SHAPE', exit: 2, hint: 'write a list of nodes, e.g. "- nodename: n01"'});
}

/** A node named twice (by id or nodename) in one input is a mistake in the input: exit 2, nothing sent. */
export function checkUnique(nodes: readonly unknown[], source: string): void {
  const seen = new Map<string, number>();
  nodes.forEach((node, index) => {
    const {id, nodename} = (node ?? {}) as {id?: unknown; nodename?: unknown};
    for (const key of [typeof id === 'string' && id && `id ${id}`, typeof nodename === 'string' && nodename && `node ${nodename}`]) {
      if (!key) continue;
      const first = seen.get(key);
      if (first !== undefined) {
        throw new CliError(`${source}: ${key} appears twice (items ${first + 1} and ${index + 1})`, {code: 'LC_ERR_INPUT_DUPLICATE'});
      }
      seen.set(key, index);
    }
  });
}

/** Read nodes from a path, or stdin for "-"; a node named twice is refused. */
export async function readNodes(path: string): Promise<unknown[]> {
  const nodes = await readNodesDocument(path);
  checkUnique(nodes, path === '-' ? 'stdin' : path);
  return nodes;
}

async function readNodesDocument(path: string): Promise<unknown[]> {
  if (path === '-') return parseNodesDocument(await readStdin(), 'stdin');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`, {code: 'LC_ERR_INPUT_READ', exit: 2, hint: 'check the path (or use -f - to read stdin)'});
  }
  return parseNodesDocument(text, path);
}
