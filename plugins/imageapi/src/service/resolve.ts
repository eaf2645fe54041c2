/**
 * Resolving attach and mount specs into objects of the table, and releasing them (under the service's
 * lock). Reference counting: every object keeps the list of its users (`api`, `mount:N`, `attach:N`,
 * `container:N`); a nested spec creates (or shares) a child owned by its parent, `{"id": N}` takes an
 * extra reference, and when the last user goes the object is destroyed, releasing its own children in
 * turn. Attachments and mounts other than overlays are shared by spec.
 */
import {join, resolve} from 'node:path';
import {canonical, type z} from '@layercake/sdk';
import {ApiError, badRequest, conflict, failed, notAvailable} from '../api/errors.js';
import {ATTACH_KINDS, MOUNT_KINDS, type attach as attachSchema, type mount as mountSchema} from '../api/models.js';
import type {Platform} from './platform.js';
import {now, type AttachRec, type ChildRef, type Json, type MountRec, type ObjectTable, type ObjectType} from './table.js';

export class SpecResolver {
  constructor(private readonly table: ObjectTable, private readonly platform: Platform, private readonly mountsDir: string, private readonly runDir: string) {}

  async resolveAttach(input: z.output<typeof attachSchema>, owner: string, field: string): Promise<AttachRec> {
    const f = (name: string) => (field ? `${field}.${name}` : name);
    if (input.id !== undefined) return this.byId('attach', input.id, owner, f('id')) as AttachRec;
    const kind = kindOf(input, ATTACH_KINDS, field);
    const status = this.platform.drivers()[kind];
    if (status && !status.available) throw notAvailable(status.reason ?? `${kind} is not available on this node`);
    const id = this.table.nextId++;
    const self = `attach:${id}`;
    const children: ChildRef[] = [];
    let spec: Json;
    let secret: string | undefined;
    try {
      let file = '';
      if (kind === 'loopback') {
        const l = input.loopback!;
        spec = {path: l.path, base: l.base, read_only: l.read_only};
        if (l.base === 'mount') {
          if (!l.mount) throw badRequest(f('loopback.mount'), 'is required with base "mount"');
          const m = await this.resolveMount(l.mount, self, f('loopback.mount'));
          children.push({type: 'mount', id: m.id});
          spec.mount = {id: m.id};
          file = join(m.mountpoint, l.path);
          if (!file.startsWith(m.mountpoint + '/')) throw badRequest(f('loopback.path'), 'must stay inside the mount');
        } else {
          if (!l.path.startsWith('/')) throw badRequest(f('loopback.path'), 'must be an absolute path with base "root"');
          if (l.mount) throw badRequest(f('loopback.mount'), 'is only allowed with base "mount"');
          file = resolve(l.path);
          spec.path = file;
        }
        this.platform.checkFile(file, f('loopback.path'));
      } else if (kind === 'local') {
        spec = {path: resolve(input.local!.path)};
        this.platform.checkBlockDevice(spec.path as string, f('local.path'));
      } else if (kind === 'rbd') {
        const {options, ...rest} = input.rbd!;
        const {secret: key, ...kept} = options;
        if (!key && !kept.keyfile) throw badRequest(f('rbd.options.secret'), 'give the cephx key (secret) or a keyfile on this node');
        secret = key;
        spec = {...rest, options: kept};
        delete spec.device_id;
      } else if (kind === 'iscsi') {
        spec = {...input.iscsi!};
      } else {
        spec = {...input.http!};
      }
      // An http image is the same image wherever it is served from: shared by its checksum.
      const key = canonical({kind, spec: kind === 'http' ? {sha256: spec.sha256} : spec});
      const same = [...this.table.attaches.values()].find((a) => a.key === key);
      if (same) return await this.share(same, children, self, owner);
      let device: string;
      if (kind === 'loopback') device = await this.platform.attachLoopback(file, spec.read_only as boolean);
      else if (kind === 'local') device = spec.path as string;
      else if (kind === 'rbd') device = await this.platform.rbdMap(input.rbd! as never, secret, this.runDir);
      else if (kind === 'iscsi') device = await this.platform.iscsiLogin(input.iscsi!);
      else device = await this.platform.attachHttp(input.http!);
      const rec: AttachRec = {id, kind, spec, device, users: [owner], children, key, created: now()};
      this.table.attaches.set(id, rec);
      return rec;
    } catch (error) {
      for (const c of children) await this.release(c.type, c.id, self).catch(() => undefined);
      throw asApiError(error);
    }
  }

  async resolveMount(input: z.output<typeof mountSchema>, owner: string, field: string): Promise<MountRec> {
    const f = (name: string) => (field ? `${field}.${name}` : name);
    if (input.id !== undefined) return this.byId('mount', input.id, owner, f('id')) as MountRec;
    const kind = kindOf(input, MOUNT_KINDS, field);
    const status = this.platform.drivers()[kind === 'nfs' ? 'nfs' : kind === 'overlay' ? 'overlay' : ''];
    if (status && !status.available) throw notAvailable(status.reason ?? `${kind} is not available on this node`);
    const id = this.table.nextId++;
    const self = `mount:${id}`;
    const mountpoint = join(this.mountsDir, String(id));
    const children: ChildRef[] = [];
    const rec: MountRec = {id, kind, spec: {}, mountpoint, users: [owner], children, key: '', created: now()};
    let made = false;
    try {
      let perform: () => Promise<void>;
      if (kind === 'attach') {
        const m = input.attach!;
        const a = await this.resolveAttach(m.attach, self, f('attach.attach'));
        children.push({type: 'attach', id: a.id});
        rec.spec = {attach: {id: a.id}, fs_type: m.fs_type, mount_options: m.mount_options};
        const readOnly = a.spec.read_only === true || a.kind === 'http' || (a.kind === 'rbd' && (a.spec.options as Json)?.ro === true);
        const options = readOnly && !m.mount_options.includes('ro') ? ['ro', ...m.mount_options] : m.mount_options;
        perform = () => this.platform.mount(a.device, mountpoint, m.fs_type, options);
      } else if (kind === 'bind') {
        const b = input.bind!;
        rec.spec = {path: b.path, base: b.base, recursive: b.recursive, ro: b.ro};
        let source: string;
        if (b.base === 'mount') {
          if (!b.mount) throw badRequest(f('bind.mount'), 'is required with base "mount"');
          const m = await this.resolveMount(b.mount, self, f('bind.mount'));
          children.push({type: 'mount', id: m.id});
          rec.spec.mount = {id: m.id};
          source = join(m.mountpoint, b.path);
          if (source !== m.mountpoint && !source.startsWith(m.mountpoint + '/')) throw badRequest(f('bind.path'), 'must stay inside the mount');
        } else {
          if (!b.path.startsWith('/')) throw badRequest(f('bind.path'), 'must be an absolute path with base "root"');
          if (b.mount) throw badRequest(f('bind.mount'), 'is only allowed with base "mount"');
          source = resolve(b.path);
          rec.spec.path = source;
        }
        this.platform.checkPath(source, f('bind.path'));
        perform = () => this.platform.bind(source, mountpoint, b.recursive, b.ro);
      } else if (kind === 'nfs') {
        const n = input.nfs!;
        rec.spec = {...n};
        perform = () => this.platform.mountNfs(n, mountpoint);
      } else {
        const o = input.overlay!;
        if (o.upper.kind === 'dir' && !o.upper.path) throw badRequest(f('overlay.upper.path'), 'is required with an upper layer of kind "dir"');
        if (o.upper.kind === 'tmpfs' && o.upper.path) throw badRequest(f('overlay.upper.path'), 'is only allowed with an upper layer of kind "dir"');
        const lowers: MountRec[] = [];
        for (const [i, lower] of o.lower.entries()) {
          const m = await this.resolveMount(lower, self, f(`overlay.lower[${i}]`));
          children.push({type: 'mount', id: m.id});
          lowers.push(m);
        }
        rec.spec = {lower: lowers.map((m) => ({id: m.id})), upper: o.upper};
        if (o.upper.kind === 'tmpfs') {
          rec.upperMount = `${mountpoint}.upper`;
          rec.upperdir = `${rec.upperMount}/upper`;
          rec.workdir = `${rec.upperMount}/work`;
        } else {
          rec.upperdir = join(resolve(o.upper.path!), 'upper');
          rec.workdir = join(resolve(o.upper.path!), 'work');
        }
        perform = async () => {
          if (rec.upperMount) {
            this.platform.makeDir(rec.upperMount);
            await this.platform.mount('tmpfs', rec.upperMount, 'tmpfs', ['mode=755', ...(o.upper.size ? [`size=${o.upper.size}`] : [])]);
          }
          this.platform.makeDir(rec.upperdir!);
          this.platform.makeDir(rec.workdir!);
          await this.platform.mount('overlay', mountpoint, 'overlay', [`lowerdir=${lowers.map((m) => m.mountpoint).join(':')}`, `upperdir=${rec.upperdir}`, `workdir=${rec.workdir}`]);
        };
      }
      // Everything but an overlay is shared by spec; an overlay only with another of the API's own.
      const identity = canonical({kind, spec: rec.spec});
      rec.key = kind === 'overlay' ? '' : identity;
      const same = [...this.table.mounts.values()].find((m) => (kind === 'overlay' ? owner === 'api' && m.users.includes('api') && canonical({kind: m.kind, spec: m.spec}) === identity : m.key === identity));
      if (same) return await this.share(same, children, self, owner);
      this.platform.makeDir(mountpoint);
      made = true;
      this.table.mounts.set(id, rec); // registered first, so that a failure below unwinds through destroyMount
      await perform();
      return rec;
    } catch (error) {
      if (this.table.mounts.get(id) === rec) {
        rec.users = [];
        await this.destroyMount(rec).catch(() => undefined);
      } else {
        for (const c of children) await this.release(c.type, c.id, self).catch(() => undefined);
        if (made) this.platform.removeDir(mountpoint);
      }
      throw asApiError(error);
    }
  }

  /** `{"id": N}`: one more reference to an object that exists. */
  private byId(type: ObjectType, id: number, owner: string, field: string): AttachRec | MountRec {
    const rec = this.table.get(type, id);
    if (!rec) throw badRequest(field, `no ${type === 'attach' ? 'attachment' : 'mount'} ${id}`);
    rec.users.push(owner);
    return rec;
  }

  /** An object with the same spec exists: the children made for the new one go, the owner uses the old one. */
  private async share<R extends AttachRec | MountRec>(same: R, children: ChildRef[], self: string, owner: string): Promise<R> {
    for (const c of children) await this.release(c.type, c.id, self);
    if (owner !== 'api' || !same.users.includes('api')) same.users.push(owner); // the API pins once
    return same;
  }

  /** Drops the API's pin on an object: 409 while others use it (unless force: then it goes with its last user). */
  async unpin(type: ObjectType, rec: AttachRec | MountRec, force: boolean): Promise<void> {
    const others = rec.users.filter((u) => u !== 'api');
    if (!rec.users.includes('api')) {
      if (rec.users.length === 0) { // a destroy that failed earlier: try again
        await this.destroy(type, rec);
        return;
      }
      throw conflict(`${type} ${rec.id} was not created through the API: it belongs to ${others.join(', ')} and goes when they do`);
    }
    if (others.length && !force) throw conflict(`${type} ${rec.id} is in use by ${others.join(', ')} (force=true releases the API's reference anyway; it then goes with its last user)`);
    await this.release(type, rec.id, 'api');
  }

  async release(type: ObjectType, id: number, user: string): Promise<void> {
    const rec = this.table.get(type, id);
    if (!rec) return;
    const i = rec.users.indexOf(user);
    if (i >= 0) rec.users.splice(i, 1);
    if (rec.users.length > 0) return;
    await this.destroy(type, rec);
  }

  destroy(type: ObjectType, rec: AttachRec | MountRec): Promise<void> {
    return type === 'attach' ? this.destroyAttach(rec as AttachRec) : this.destroyMount(rec as MountRec);
  }

  private async destroyAttach(rec: AttachRec): Promise<void> {
    if (rec.kind === 'loopback') await this.platform.detachLoopback(rec.device);
    else if (rec.kind === 'rbd') await this.platform.rbdUnmap(rec.device);
    else if (rec.kind === 'iscsi') await this.platform.iscsiLogout(rec.spec as never);
    else if (rec.kind === 'http') await this.platform.detachHttp(rec.device, rec.spec as never);
    this.table.attaches.delete(rec.id);
    for (const c of rec.children) await this.release(c.type, c.id, `attach:${rec.id}`);
  }

  private async destroyMount(rec: MountRec): Promise<void> {
    await this.platform.umount(rec.mountpoint);
    this.platform.removeDir(rec.mountpoint);
    if (rec.upperMount) {
      await this.platform.umount(rec.upperMount);
      this.platform.removeDir(rec.upperMount);
    }
    this.table.mounts.delete(rec.id);
    for (const c of rec.children) await this.release(c.type, c.id, `mount:${rec.id}`);
  }
}

/** The kind of a spec: its `kind`, or the one kind-named member it has; the member must match. */
function kindOf<K extends string>(input: Record<string, unknown>, kinds: readonly K[], field: string): K {
  const f = (name: string) => (field ? `${field}.${name}` : name);
  const present = kinds.filter((k) => input[k] !== undefined);
  const kind = (input.kind as K | undefined) ?? (present.length === 1 ? present[0] : undefined);
  if (!kind) throw badRequest(f('kind'), `is required (one of ${kinds.join(', ')}), or give {"id": N} to use an existing object`);
  if (input[kind] === undefined) throw badRequest(f(kind), `is required with kind ${kind}`);
  const extra = present.find((k) => k !== kind);
  if (extra) throw badRequest(f(extra), `is not allowed with kind ${kind}`);
  return kind;
}

/** An error as the API answers it: an ApiError as it is, anything else (a tool's, a system call's) as a 500 with its message. */
export function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return failed((error as Error)?.message ?? String(error));
}
