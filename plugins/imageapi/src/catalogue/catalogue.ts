/**
 * The parent's Layer1 image catalogue, a directory (default `<stateDir>/images`):
 *
 * - `<sha256>.squashfs`: the images, named by their checksum (the pxe HTTP server serves them as
 *   `/images/<sha256>.squashfs`, so a URL never changes meaning);
 * - `catalogue.json`: `{images: [{name, version, sha256, size, built, source, kernel}]}`.
 *
 * Every write is a temporary file renamed into place, under an exclusive lock file, so a killed build
 * leaves at most an unreferenced `*.tmp` (removed by the next write) and two builds at once both land.
 */
import {closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {CliError} from '@layercake/sdk';
import {CATALOGUE_REF} from '../module/extension.js';

export interface CatalogueEntry {
  name: string;
  version: string;
  sha256: string;
  /** Bytes. */
  size: number;
  /** ISO 8601. */
  built: string;
  /** What it was built from (for people). */
  source: string;
  /** The kernel whose modules it holds ('' with --no-modules). */
  kernel: string;
}

export const refOf = (e: Pick<CatalogueEntry, 'name' | 'version'>) => `${e.name}:${e.version}`;

/** NAME:VERSION, or a clear error naming the text. */
export function parseRef(text: string): {name: string; version: string} {
  if (!CATALOGUE_REF.test(text)) {
    throw new CliError(`"${text}" is not an image reference: expected NAME:VERSION (letters, digits, ".", "-", "_"), e.g. demo:v1`, {code: 'LC_ERR_USAGE', exit: 2});
  }
  const [name, version] = text.split(':') as [string, string];
  return {name, version};
}

export class Catalogue {
  constructor(readonly dir: string) {}

  get index(): string {
    return join(this.dir, 'catalogue.json');
  }

  fileOf(sha256: string): string {
    return join(this.dir, `${sha256}.squashfs`);
  }

  entries(): CatalogueEntry[] {
    let text: string;
    try {
      text = readFileSync(this.index, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    try {
      return (JSON.parse(text) as {images: CatalogueEntry[]}).images;
    } catch (error) {
      throw new CliError(`the image catalogue ${this.index} is damaged: ${(error as Error).message}`, {code: 'LC_ERR_IMAGE_BUILD', hint: 'restore it from a backup, or move it away to start a new catalogue (the image files stay)'});
    }
  }

  get(ref: string): CatalogueEntry | undefined {
    const {name, version} = parseRef(ref);
    return this.entries().find((e) => e.name === name && e.version === version);
  }

  /** The entry, or LC_ERR_IMAGE_NOT_IN_CATALOGUE naming it and what there is. */
  require(ref: string): CatalogueEntry {
    const entry = this.get(ref);
    if (entry) return entry;
    const names = this.entries().map(refOf);
    throw new CliError(`${ref} is not in the image catalogue ${this.dir}${names.length ? ` (it has ${names.join(', ')})` : ' (it is empty)'}`, {code: 'LC_ERR_IMAGE_NOT_IN_CATALOGUE'});
  }

  /** A scratch path inside the catalogue (same file system, so the final rename is atomic). */
  scratch(what: string): string {
    mkdirSync(this.dir, {recursive: true, mode: 0o755});
    return join(this.dir, `.${what}-${process.pid}-${Date.now()}.tmp`);
  }

  /** Adds (or with `replace`, replaces) an entry whose image is the file `built` (moved in). */
  async add(entry: CatalogueEntry, built: string, replace: boolean): Promise<void> {
    await this.locked(() => {
      const all = this.entries();
      const old = all.find((e) => refOf(e) === refOf(entry));
      if (old && !replace) throw existsError(refOf(entry));
      const others = all.filter((e) => e !== old);
      renameSync(built, this.fileOf(entry.sha256));
      this.write([...others, entry]);
      if (old && !others.some((e) => e.sha256 === old.sha256) && old.sha256 !== entry.sha256) rmSync(this.fileOf(old.sha256), {force: true});
    });
  }

  /** Removes an entry; its file goes unless another entry has the same checksum. */
  async remove(ref: string): Promise<CatalogueEntry> {
    return this.locked(() => {
      const entry = this.require(ref);
      const rest = this.entries().filter((e) => refOf(e) !== ref);
      this.write(rest);
      if (!rest.some((e) => e.sha256 === entry.sha256)) rmSync(this.fileOf(entry.sha256), {force: true});
      return entry;
    });
  }

  private write(entries: CatalogueEntry[]): void {
    const tmp = this.scratch('catalogue');
    const sorted = [...entries].sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version, undefined, {numeric: true}));
    writeFileSync(tmp, JSON.stringify({images: sorted}, null, 2) + '\n', {mode: 0o644});
    renameSync(tmp, this.index);
  }

  /** One writer at a time (an exclusive lock file; a lock left by a dead process is taken over). */
  private async locked<T>(fn: () => T): Promise<T> {
    mkdirSync(this.dir, {recursive: true, mode: 0o755});
    const lock = join(this.dir, '.lock');
    for (let i = 0; ; i++) {
      try {
        closeSync(openSync(lock, 'wx'));
        writeFileSync(lock, String(process.pid));
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        if (!holderAlive(lock)) rmSync(lock, {force: true});
        else if (i > 600) throw new CliError(`the image catalogue ${this.dir} is locked by another command (${lock})`, {code: 'LC_ERR_IMAGE_BUILD', hint: 'wait for the other image build or rm to finish'});
        else await sleep(100);
      }
    }
    try {
      this.sweep();
      return fn();
    } finally {
      rmSync(lock, {force: true});
    }
  }

  /** Scratch files of builds that died (their process is gone). */
  private sweep(): void {
    for (const name of readdirSync(this.dir)) {
      const m = /^\.[a-z]+-(\d+)-\d+\.tmp$/.exec(name);
      if (m && !pidAlive(Number(m[1]))) rmSync(join(this.dir, name), {recursive: true, force: true});
    }
  }
}

export function existsError(ref: string): CliError {
  return new CliError(`${ref} is already in the image catalogue`, {code: 'LC_ERR_IMAGE_EXISTS'});
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holderAlive(lock: string): boolean {
  try {
    const pid = Number(readFileSync(lock, 'utf8'));
    return pid > 0 ? pidAlive(pid) : Date.now() - statSync(lock).mtimeMs < 5000; // written just now, pid not yet in it
  } catch {
    return existsSync(lock);
  }
}
