/** From an image's cfg to the ImageAPI container that runs it, and the digests that tell specs apart. */
import type {ContainerInput} from '../api/models.js';
import {canonicalDigest as digest} from '@layercake/sdk';
import {image, type Image, type ImageSpec} from './extension.js';

/** Annotations the module puts on its containers: which image, and which spec of it. */
export const ANNOTATION_IMAGE = 'layercake.imageset/image';
export const ANNOTATION_SPEC = 'layercake.imageset/spec';

/** The parts of an image that define its container (not its dsc fields, not its goal state). */
export function specOf(img: Partial<Image> & ImageSpec): ImageSpec {
  const parsed = image.parse({source: img.source, mount: img.mount, container: img.container});
  return {source: parsed.source, mount: parsed.mount, container: parsed.container};
}

/** What runs: changes when anything that needs a new container changes. */
export function containerDigest(spec: ImageSpec): string {
  const {state: _goal, ...container} = spec.container;
  return digest({source: spec.source, mount: spec.mount, container});
}

/** The whole spec, the goal state included: a change of it is a change of the image's cfg. */
export function specDigest(spec: ImageSpec): string {
  return digest(spec);
}

function baseMount(spec: ImageSpec): Record<string, unknown> {
  const s = spec.source;
  const ro = spec.mount.overlay;
  const options = s.options;
  const attachMount = (attach: Record<string, unknown>) => ({kind: 'attach', attach: {attach, fs_type: s.fsType, mount_options: ro && !options.includes('ro') ? ['ro', ...options] : options}});
  switch (s.kind) {
    case 'file':
      return attachMount({kind: 'loopback', loopback: {path: s.path, base: 'root', read_only: ro}});
    case 'block':
      return attachMount({kind: 'local', local: {path: s.path}});
    case 'rbd':
      return attachMount({kind: 'rbd', rbd: {
        monitors: s.monitors, pool: s.pool, image: s.image, ...(s.snapshot ? {snapshot: s.snapshot} : {}),
        options: {name: s.user ?? 'admin', ro, ...(s.secret ? {secret: s.secret} : {}), ...(s.keyfile ? {keyfile: s.keyfile} : {})},
      }});
    case 'iscsi':
      return attachMount({kind: 'iscsi', iscsi: {target: s.target, host: s.host, ...(s.port ? {port: s.port} : {}), ...(s.lun !== undefined ? {lun: s.lun} : {})}});
    case 'http':
      return attachMount({kind: 'http', http: {url: s.url, sha256: s.sha256, size: s.size}});
    case 'nfs':
      return {kind: 'nfs', nfs: {host: s.host, path: s.path, ro, ...(s.nfsVersion ? {version: s.nfsVersion} : {}), options}};
    case 'dir':
      return {kind: 'bind', bind: {path: s.path, base: 'root', ro}};
  }
}

/** The ImageAPI container request for an image (created running). */
export function containerRequest(name: string, spec: ImageSpec): ContainerInput {
  const base = baseMount(spec);
  const m = spec.mount;
  const mount = m.overlay
    ? {kind: 'overlay', overlay: {lower: [base], upper: {kind: m.upper, ...(m.size ? {size: m.size} : {}), ...(m.upper === 'dir' ? {path: m.upperPath} : {})}}}
    : base;
  return {
    name,
    mount: mount as ContainerInput['mount'],
    command: spec.container.command,
    systemd: spec.container.systemd,
    state: 'running',
    ...(spec.container.hostname ? {hostname: spec.container.hostname} : {}),
    annotations: {[ANNOTATION_IMAGE]: name, [ANNOTATION_SPEC]: containerDigest(spec)},
  };
}
