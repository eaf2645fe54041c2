/**
 * File contents for the TFTP and HTTP servers. Files up to a quarter of the cache budget are read once
 * and kept (a boot storm sends the same kernel and initrd to every node); larger files, or files beyond
 * the budget, are read in 1 MiB chunks as the transfer advances.
 */
import {promises as fs} from 'node:fs';
import type {ResolvedFile} from './files.js';

export interface Source {
  readonly size: number;
  /** Bytes [offset, offset+length) (shorter at the end of the file). Synchronous when the data is in memory. */
  read(offset: number, length: number): Buffer | Promise<Buffer>;
  /** All of it for the TFTP sender: the bytes in memory, or a file descriptor to read them from (valid until close). */
  content(): Promise<{data: Buffer} | {fd: number}>;
  close(): void;
}

export class BufferSource implements Source {
  constructor(private readonly data: Buffer) {}
  get size(): number { return this.data.length; }
  read(offset: number, length: number): Buffer { return this.data.subarray(offset, Math.min(offset + length, this.data.length)); }
  async content(): Promise<{data: Buffer}> { return {data: this.data}; }
  close(): void {}
}

const CHUNK = 1 << 20;

class ChunkedFileSource implements Source {
  private chunkStart = -1;
  private chunk = Buffer.alloc(0);
  private handle: Promise<fs.FileHandle>;
  constructor(path: string, readonly size: number) {
    this.handle = fs.open(path, 'r');
    this.handle.catch(() => undefined);
  }
  read(offset: number, length: number): Buffer | Promise<Buffer> {
    const end = Math.min(offset + length, this.size);
    if (offset >= this.chunkStart && end <= this.chunkStart + this.chunk.length) {
      return this.chunk.subarray(offset - this.chunkStart, end - this.chunkStart);
    }
    return this.load(offset, end);
  }
  private async load(offset: number, end: number): Promise<Buffer> {
    const fh = await this.handle;
    const want = Math.max(CHUNK, end - offset);
    const buf = Buffer.allocUnsafe(Math.min(want, this.size - offset));
    const {bytesRead} = await fh.read(buf, 0, buf.length, offset);
    this.chunk = buf.subarray(0, bytesRead);
    this.chunkStart = offset;
    return this.chunk.subarray(0, Math.min(end - offset, bytesRead));
  }
  async content(): Promise<{fd: number}> { return {fd: (await this.handle).fd}; }
  close(): void { this.handle.then((h) => h.close()).catch(() => undefined); }
}

export class FileCache {
  private readonly entries = new Map<string, {key: string; data: Buffer}>();
  private readonly loading = new Map<string, Promise<Buffer>>();
  private bytes = 0;
  constructor(private readonly budget: number) {}

  async open(file: ResolvedFile): Promise<Source> {
    if (file.kind === 'rendered') return new BufferSource(file.data);
    if (file.size > this.budget / 4) return new ChunkedFileSource(file.path, file.size);
    const key = `${file.path}\0${file.size}\0${file.mtimeMs}`;
    const hit = this.entries.get(file.path);
    if (hit?.key === key) {
      this.entries.delete(file.path); // re-insert: most recently used last
      this.entries.set(file.path, hit);
      return new BufferSource(hit.data);
    }
    let p = this.loading.get(key);
    if (!p) {
      p = fs.readFile(file.path);
      this.loading.set(key, p);
      p.finally(() => this.loading.delete(key)).catch(() => undefined);
      const data = await p;
      this.insert(file.path, key, data);
      return new BufferSource(data);
    }
    return new BufferSource(await p);
  }

  private insert(path: string, key: string, data: Buffer): void {
    const old = this.entries.get(path);
    if (old) { this.bytes -= old.data.length; this.entries.delete(path); }
    this.entries.set(path, {key, data});
    this.bytes += data.length;
    for (const [p, e] of this.entries) {
      if (this.bytes <= this.budget) break;
      this.entries.delete(p);
      this.bytes -= e.data.length;
    }
  }

  clear(): void { this.entries.clear(); this.bytes = 0; }
}
