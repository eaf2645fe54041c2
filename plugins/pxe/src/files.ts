/**
 * Boot file lookup shared by TFTP and HTTP: `<root>/<arch>/<platform>/<file>`, then `<root>/<arch>/<file>`,
 * then `<root>/<file>`; in each directory the file itself, else `<file>.tpl` rendered for the node.
 * Names with `..` segments, absolute names and anything that resolves (through symlinks) outside the root
 * are refused.
 */
import {promises as fs} from 'node:fs';
import {join, sep} from 'node:path';
import type {BootNode} from './bootnode.js';
import {render} from './template.js';

export class FileError extends Error {
  constructor(readonly code: 'ENOENT' | 'EACCES' | 'EINVAL', message: string) { super(message); }
}

export type ResolvedFile =
  | {kind: 'static'; path: string; size: number; mtimeMs: number}
  | {kind: 'rendered'; path: string; data: Buffer};

function checkName(name: string): string[] {
  if (name.includes('\0')) throw new FileError('EINVAL', 'file name contains NUL');
  if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) throw new FileError('EACCES', `absolute path refused: ${name}`);
  const parts = name.split(/[/\\]/).filter((p) => p !== '' && p !== '.');
  if (parts.length === 0) throw new FileError('ENOENT', 'empty file name');
  if (parts.some((p) => p === '..')) throw new FileError('EACCES', `path outside the boot root refused: ${name}`);
  return parts;
}

function safeSegment(s: string): boolean {
  return s !== '' && s !== '.' && s !== '..' && !/[/\\\0]/.test(s);
}

async function within(root: string, path: string): Promise<string | undefined> {
  let real: string;
  try { real = await fs.realpath(path); } catch { return undefined; }
  const realRoot = await fs.realpath(root);
  if (real !== realRoot && !real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep)) {
    throw new FileError('EACCES', `path leaves the boot root (symlink): ${path}`);
  }
  return real;
}

export interface ResolveOptions {
  root: string;
  node: BootNode;
  vars: Record<string, string>;
}

/** Directories searched for a node, most specific first. */
export function searchDirs(root: string, node: Pick<BootNode, 'arch' | 'platform'>): string[] {
  const dirs: string[] = [];
  if (safeSegment(node.arch) && safeSegment(node.platform)) dirs.push(join(root, node.arch, node.platform));
  if (safeSegment(node.arch)) dirs.push(join(root, node.arch));
  dirs.push(root);
  return dirs;
}

export async function resolveFile(name: string, opts: ResolveOptions): Promise<ResolvedFile> {
  const parts = checkName(name);
  for (const dir of searchDirs(opts.root, opts.node)) {
    const path = join(dir, ...parts);
    const real = await within(opts.root, path);
    if (real) {
      const st = await fs.stat(real);
      if (st.isFile()) return {kind: 'static', path: real, size: st.size, mtimeMs: st.mtimeMs};
      if (st.isDirectory()) throw new FileError('ENOENT', `is a directory: ${name}`);
    }
    const tpl = await within(opts.root, `${path}.tpl`);
    if (tpl) {
      const text = await fs.readFile(tpl, 'utf8');
      return {kind: 'rendered', path: tpl, data: Buffer.from(render(text, opts.vars, `${parts.join('/')}.tpl`), 'utf8')};
    }
  }
  throw new FileError('ENOENT', `no such file for node ${opts.node.nodename || opts.node.id}: ${name}`);
}
