/**
 * A crash-safe journal of cfg changes: a snapshot file plus an append-only log of checksummed JSON lines,
 * fdatasync'ed before a write is acknowledged. A torn last line (kill -9 mid-write) is cut off at open;
 * a damaged line anywhere else is corruption and refuses to open rather than silently losing data.
 * Hand-written because a cfg of a few thousand small JSON documents needs nothing more, and a native
 * database would need a compiler on every install (docs/engine.md, "Store").
 */
import {createHash} from 'node:crypto';
import * as fs from 'node:fs';
import {join} from 'node:path';
import {LayercakeError} from '../model/errors.js';

export interface JournalRecord<T> {
  seq: number;
  put?: T[];
  del?: string[];
}

interface Snapshot<T> {
  seq: number;
  items: T[];
}

const checksum = (text: string) => createHash('sha1').update(text).digest('hex').slice(0, 12);

export class Journal<T> {
  private fd = -1;
  private seq = 0;
  private lines = 0;

  private constructor(private readonly dir: string, private readonly compactAfter: number) {}

  /** Opens the journal and replays it: returns the state as a map from key to item. */
  static open<T>(dir: string, key: (item: T) => string, compactAfter = 5000): {journal: Journal<T>; items: Map<string, T>} {
    fs.mkdirSync(dir, {recursive: true, mode: 0o700});
    const journal = new Journal<T>(dir, compactAfter);
    const items = new Map<string, T>();
    const snapshotPath = join(dir, 'cfg.snapshot.json');
    if (fs.existsSync(snapshotPath)) {
      const snap = JSON.parse(fs.readFileSync(snapshotPath, 'utf8')) as Snapshot<T>;
      for (const item of snap.items) items.set(key(item), item);
      journal.seq = snap.seq;
    }
    const logPath = join(dir, 'cfg.journal');
    if (fs.existsSync(logPath)) journal.replay(logPath, items, key);
    journal.fd = fs.openSync(logPath, 'a', 0o600);
    fsyncDir(dir);
    return {journal, items};
  }

  private replay(path: string, items: Map<string, T>, key: (item: T) => string): void {
    const text = fs.readFileSync(path, 'utf8');
    let offset = 0;
    while (offset < text.length) {
      const end = text.indexOf('\n', offset);
      const line = end < 0 ? text.slice(offset) : text.slice(offset, end);
      const record = end < 0 ? undefined : parseLine<T>(line);
      if (!record) {
        const rest = text.slice(end < 0 ? text.length : end + 1);
        if (rest.trim() !== '') throw new LayercakeError(`state store ${path} is damaged at byte ${Buffer.byteLength(text.slice(0, offset))}: move it aside or restore a backup`, 'LC_ERR_STORE_DAMAGED');
        fs.truncateSync(path, Buffer.byteLength(text.slice(0, offset))); // a torn write that was never acknowledged
        break;
      }
      if (record.seq > this.seq) {
        for (const item of record.put ?? []) items.set(key(item), item);
        for (const id of record.del ?? []) items.delete(id);
        this.seq = record.seq;
      }
      this.lines++;
      offset = end + 1;
    }
  }

  /** Appends one record and waits for the disk: when this returns, the change survives a crash. */
  append(record: Omit<JournalRecord<T>, 'seq'>): void {
    const json = JSON.stringify({seq: this.seq + 1, ...record});
    fs.writeSync(this.fd, `${checksum(json)} ${json}\n`);
    fs.fdatasyncSync(this.fd);
    this.seq++;
    this.lines++;
  }

  /** Rewrites the snapshot and empties the log once the log has grown past its limit. */
  maybeCompact(items: () => T[]): void {
    if (this.lines < this.compactAfter) return;
    const tmp = join(this.dir, 'cfg.snapshot.json.tmp');
    const fd = fs.openSync(tmp, 'w', 0o600);
    fs.writeSync(fd, JSON.stringify({seq: this.seq, items: items()}));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, join(this.dir, 'cfg.snapshot.json'));
    fsyncDir(this.dir);
    // Records up to seq are in the snapshot; a crash before this truncation only replays them as no-ops.
    fs.ftruncateSync(this.fd, 0);
    fs.fsyncSync(this.fd);
    this.lines = 0;
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

function parseLine<T>(line: string): JournalRecord<T> | undefined {
  const space = line.indexOf(' ');
  const json = line.slice(space + 1);
  if (space !== 12 || checksum(json) !== line.slice(0, 12)) return undefined;
  try {
    return JSON.parse(json) as JournalRecord<T>;
  } catch {
    return undefined;
  }
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
