/** The API's views of the table's records: nested objects shown in full, ids resolved. */
import type {ApiAttach, ApiContainer, ApiMount} from '../api/models.js';
import type {AttachRec, ContainerRec, Json, MountRec, ObjectTable, ObjectType} from './table.js';

export function apiAttach(table: ObjectTable, rec: AttachRec): ApiAttach {
  const spec: Json = {...rec.spec};
  if (spec.mount) spec.mount = refView(table, 'mount', (spec.mount as {id: number}).id);
  return {id: rec.id, kind: rec.kind, device_file: rec.device, refs: rec.users.length, users: [...rec.users], [rec.kind]: spec};
}

export function apiMount(table: ObjectTable, rec: MountRec): ApiMount {
  const spec: Json = {...rec.spec};
  if (rec.kind === 'attach') spec.attach = refView(table, 'attach', (spec.attach as {id: number}).id);
  if (rec.kind === 'bind' && spec.mount) spec.mount = refView(table, 'mount', (spec.mount as {id: number}).id);
  if (rec.kind === 'overlay') {
    spec.lower = (spec.lower as {id: number}[]).map((l) => refView(table, 'mount', l.id));
    spec.upperdir = rec.upperdir;
    spec.workdir = rec.workdir;
  }
  return {id: rec.id, kind: rec.kind, mountpoint: rec.mountpoint, refs: rec.users.length, users: [...rec.users], [rec.kind]: spec};
}

/** The view of an attachment or a mount, by type. */
export function apiObject(table: ObjectTable, type: ObjectType, rec: AttachRec | MountRec): ApiAttach | ApiMount {
  return type === 'attach' ? apiAttach(table, rec as AttachRec) : apiMount(table, rec as MountRec);
}

function refView(table: ObjectTable, type: ObjectType, id: number): Json {
  const rec = table.get(type, id);
  if (!rec) return {id, missing: true};
  return apiObject(table, type, rec) as unknown as Json;
}

export function apiContainer(table: ObjectTable, rec: ContainerRec): ApiContainer {
  const mount = table.mounts.get(rec.mount);
  return {
    id: rec.id, name: rec.name, state: rec.state, command: [...rec.command], systemd: rec.systemd, hostname: rec.hostname,
    annotations: {...rec.annotations}, mount: mount ? apiMount(table, mount) : ({id: rec.mount} as ApiMount), logfile: rec.logfile,
    pid: rec.pid, init_pid: rec.initPid, started_at: rec.startedAt, exit: rec.exit, ...(rec.error ? {error: rec.error} : {}),
  };
}
