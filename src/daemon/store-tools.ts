/**
 * The offline store tools behind `layercake store check|restore` (docs/store.md): they read the state dir
 * with the daemon's own checks and change nothing unless asked to restore.
 */
import {existsSync, readdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs';
import {join, resolve} from 'node:path';
import {ID_FILE, TOKEN_FILE, readStateFile} from './state-dir.js';
import {LayercakeError, StoreDamagedError, storeIoError} from '../model/errors.js';
import type {Node} from '../model/node.js';
import {SNAPSHOT, decodeSnapshot, makeDir, readStore, writeFileDurably} from '../store/journal.js';

export interface StoreProblem {
  file: string;
  /** The byte where the damage is, for a damaged store file. */
  offset?: number;
  message: string;
  hint?: string;
}

export interface StoreReport {
  stateDir: string;
  ok: boolean;
  /** The last durable write's sequence number, and the nodes the store holds at it (when it could be read). */
  seq?: number;
  nodes?: number;
  journalRecords?: number;
  /** A torn last line the next start will cut (a write that was never acknowledged): not damage. */
  torn?: {file: string; offset: number; bytes: number};
  problems: StoreProblem[];
}

const problemOf = (error: unknown, file: string): StoreProblem => {
  if (error instanceof StoreDamagedError) return {file: error.file, offset: error.offset, message: error.problem, hint: error.detail.hint};
  if (error instanceof LayercakeError) return {file, message: error.message, hint: error.detail.hint};
  throw error;
};

/** Checks a state dir offline: the dir, its id and token files, and every byte of the store. */
export function checkStateDir(dir: string): StoreReport {
  const stateDir = resolve(dir);
  const report: StoreReport = {stateDir, ok: true, problems: []};
  if (!existsSync(stateDir)) {
    report.problems.push({file: stateDir, message: 'there is no state dir here', hint: 'name the daemon\'s state dir with --state-dir (or the config file\'s stateDir)'});
  } else {
    for (const file of [ID_FILE, TOKEN_FILE]) {
      try {
        readStateFile(stateDir, file);
      } catch (error) {
        report.problems.push(problemOf(error, join(stateDir, file.name)));
      }
    }
    const storeDir = join(stateDir, 'store');
    try {
      const image = readStore<Node>(storeDir, (n) => n.id);
      Object.assign(report, {seq: image.seq, nodes: image.items.size, journalRecords: image.records});
      if (image.torn) report.torn = {file: join(storeDir, 'cfg.journal'), offset: image.torn.offset, bytes: image.torn.bytes};
    } catch (error) {
      report.problems.push(problemOf(error, storeDir));
    }
  }
  report.ok = report.problems.length === 0;
  return report;
}

/**
 * Restores a backup into a state dir: refuses a damaged backup, and a state dir that holds a store or
 * another daemon's id unless forced (the old store is then moved aside, never deleted). Returns where.
 */
export function restoreBackup(file: string, dir: string, force: boolean): {stateDir: string; seq: number; nodes: number; movedAside?: string} {
  const stateDir = resolve(dir);
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (error) {
    throw storeIoError(error, file, 'read the backup');
  }
  const snapshot = decodeSnapshot<Node>(data, file);
  const storeDir = join(stateDir, 'store');
  const existing = existsSync(storeDir) ? readdirSync(storeDir) : [];
  const currentId = existsSync(stateDir) ? readStateFile(stateDir, ID_FILE) : undefined;
  const otherId = snapshot.id !== undefined && currentId !== undefined && currentId !== snapshot.id;
  if (!force && (existing.length > 0 || otherId)) {
    throw new LayercakeError(existing.length ? `${storeDir} already holds a store (${existing.join(', ')}): a restore would replace it`
      : `${join(stateDir, 'id')} holds another daemon's id (${currentId}, the backup's is ${snapshot.id})`, 'LC_ERR_STORE_NOT_EMPTY', {
      hint: 'stop the daemon, then pass --force to replace it (the current store is moved aside to store.replaced-<time>, not deleted), or restore into an empty --state-dir',
    });
  }
  makeDir(stateDir);
  let movedAside: string | undefined;
  if (existing.length) {
    movedAside = `${storeDir}.replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(storeDir, movedAside);
  }
  makeDir(storeDir);
  writeFileDurably(storeDir, SNAPSHOT, data);
  if (snapshot.id !== undefined && currentId !== snapshot.id) writeFileSync(join(stateDir, 'id'), snapshot.id + '\n', {mode: 0o600});
  return {stateDir, seq: snapshot.seq, nodes: snapshot.items.length, movedAside};
}

/** Writes a backup the daemon sent to FILE, after checking it whole; refuses to overwrite unless forced. */
export function writeBackup(data: Buffer, file: string, force: boolean): {file: string; seq: number; nodes: number; bytes: number} {
  const path = resolve(file);
  const snapshot = decodeSnapshot<Node>(data, `the backup the daemon sent`);
  if (!force && existsSync(path)) throw new LayercakeError(`${path} already exists`, 'LC_ERR_FILE_EXISTS', {hint: 'choose another file, or pass --force to replace it'});
  const at = path.lastIndexOf('/');
  writeFileDurably(path.slice(0, at) || '/', path.slice(at + 1), data);
  return {file: path, seq: snapshot.seq, nodes: snapshot.items.length, bytes: data.length};
}
