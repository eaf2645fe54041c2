/**
 * The ImageAPI service's object table: attachments, mounts and containers by id, with the next id to
 * give. It is written (atomically) after every change and read back when the service starts; after a
 * reboot (another boot id) what it described is gone, so it is discarded.
 */
import {readFileSync, renameSync, writeFileSync} from 'node:fs';
import type {ApiExit, AttachKind, ContainerState, MountKind} from '../api/models.js';
import {bootId} from './procfs.js';
import type {ServiceLogger} from './options.js';

export type Json = Record<string, unknown>;
export type ObjectType = 'attach' | 'mount';
export interface ChildRef {type: ObjectType; id: number}

export interface AttachRec {
  id: number;
  kind: AttachKind;
  /** The normalized spec: nested objects as {id}, no secrets. */
  spec: Json;
  device: string;
  users: string[];
  children: ChildRef[];
  /** The identity used to share it ('' when it is never shared). */
  key: string;
  created: string;
}

export interface MountRec {
  id: number;
  kind: MountKind;
  spec: Json;
  mountpoint: string;
  /** An overlay's private tmpfs holding upper/ and work/. */
  upperMount?: string;
  upperdir?: string;
  workdir?: string;
  users: string[];
  children: ChildRef[];
  key: string;
  created: string;
}

export interface ContainerRec {
  id: number;
  name: string;
  state: ContainerState;
  command: string[];
  systemd: boolean;
  hostname: string;
  annotations: Record<string, string>;
  mount: number;
  logfile: string;
  /** The spec as given (for idempotent create). */
  key: string;
  pid: number | null;
  pidStart: number | null;
  initPid: number | null;
  initStart: number | null;
  startedAt: string | null;
  exit: ApiExit | null;
  stopRequested: boolean;
  error?: string;
}

interface Persisted {
  version: 1;
  bootId: string;
  nextId: number;
  attachments: AttachRec[];
  mounts: MountRec[];
  containers: ContainerRec[];
}

export const now = () => new Date().toISOString();

export class ObjectTable {
  readonly attaches = new Map<number, AttachRec>();
  readonly mounts = new Map<number, MountRec>();
  readonly containers = new Map<number, ContainerRec>();
  nextId = 1;

  constructor(readonly file: string) {}

  /** The attachments or the mounts. */
  map(type: ObjectType): Map<number, AttachRec | MountRec> {
    return type === 'attach' ? this.attaches : this.mounts;
  }

  /** An attachment or a mount. */
  get(type: ObjectType, id: number): AttachRec | MountRec | undefined {
    return this.map(type).get(id);
  }

  persist(): void {
    const table: Persisted = {
      version: 1, bootId: bootId(), nextId: this.nextId,
      attachments: [...this.attaches.values()], mounts: [...this.mounts.values()], containers: [...this.containers.values()],
    };
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(table, null, 1), {mode: 0o600});
    renameSync(tmp, this.file);
  }

  /**
   * Reads back the table written before, into the maps. False when there is none to use: no file, an
   * unreadable one or another version (starting empty), or one from before a reboot (discarded; a
   * simulated service keeps it, since nothing it describes lived in the kernel).
   */
  load(log: ServiceLogger, simulated: boolean): boolean {
    let table: Persisted;
    try {
      table = JSON.parse(readFileSync(this.file, 'utf8')) as Persisted;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') log.warn(`cannot read ${this.file} (${(error as Error).message}): starting empty`);
      return false;
    }
    if (table.version !== 1) {
      log.warn(`${this.file} has version ${table.version}: starting empty`);
      return false;
    }
    this.nextId = table.nextId;
    if (table.bootId !== bootId() && !simulated) {
      log.warn(`the node rebooted since ${this.file} was written: its ${table.containers.length} containers and mounts are gone; starting empty`);
      this.persist();
      return false;
    }
    for (const a of table.attachments) this.attaches.set(a.id, a);
    for (const m of table.mounts) this.mounts.set(m.id, m);
    for (const c of table.containers) this.containers.set(c.id, c);
    return true;
  }
}
