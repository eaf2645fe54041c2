/**
 * `layercake image build`: a Layer1 squashfs from a directory, a tarball, an OCI image layout or a
 * docker-archive, with the kernel modules of the Layer0 it will run on, into the catalogue.
 *
 * The tools are Debian's: tar, umoci (OCI layout -> root file system), skopeo (docker-archive -> OCI
 * layout, offline), mksquashfs (zstd). Reproducible: the same input gives the same sha256 (every time
 * stamp 0, entries in sorted order, which mksquashfs does itself, no build date in the image).
 * Everything happens in a scratch directory inside the catalogue; the image is renamed in only once
 * complete and hashed, so a killed build leaves nothing in the catalogue.
 */
import {createHash} from 'node:crypto';
import {createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {basename, join, resolve} from 'node:path';
import {CliError} from '@layercake/sdk';
import {run, ToolError, which} from '../service/exec.js';
import {resolveInRoot} from '../service/linux.js';
import {Catalogue, existsError, parseRef, type CatalogueEntry} from './catalogue.js';

export interface BuildOptions {
  /** NAME:VERSION. */
  ref: string;
  /** A directory, a tarball, an OCI layout (`DIR` or `DIR:TAG`) or a docker-archive. */
  source: string;
  /** A kernel VERSION (its /lib/modules/VERSION), a modules directory PATH, or undefined: the newest installed. */
  kernel?: string;
  noModules?: boolean;
  force?: boolean;
  /** Progress lines for people. */
  progress?(line: string): void;
}

export type SourceKind = 'directory' | 'tarball' | 'oci-layout' | 'docker-archive';

const sourceError = (message: string) => new CliError(message, {code: 'LC_ERR_IMAGE_SOURCE'});
const toolError = (error: unknown) => (error instanceof CliError ? error : new CliError(error instanceof ToolError ? error.message : (error as Error).message, {code: 'LC_ERR_IMAGE_BUILD'}));

/** What the source is (and for an OCI layout, its directory and tag); a clear error when it is none of them. */
export async function sourceKind(source: string): Promise<{kind: SourceKind; path: string; tag?: string}> {
  const colon = source.lastIndexOf(':');
  if (colon > 0 && !existsSync(source) && existsSync(join(source.slice(0, colon), 'oci-layout'))) {
    return {kind: 'oci-layout', path: resolve(source.slice(0, colon)), tag: source.slice(colon + 1)};
  }
  let st;
  try {
    st = statSync(source);
  } catch {
    throw sourceError(`the image source ${source} does not exist`);
  }
  const path = resolve(source);
  if (st.isDirectory()) return existsSync(join(path, 'oci-layout')) ? {kind: 'oci-layout', path, tag: onlyTag(path)} : {kind: 'directory', path};
  if (!st.isFile()) throw sourceError(`the image source ${source} is neither a directory nor a file`);
  let list: string;
  try {
    list = await run('tar', ['-tf', path], {timeoutMs: 0});
  } catch (error) {
    throw sourceError(`the image source ${source} is not a tarball (tar: ${error instanceof ToolError ? error.stderr.trim().split('\n')[0] : (error as Error).message})`);
  }
  const top = new Set(list.split('\n').map((l) => l.replace(/^\.\//, '')));
  return {kind: top.has('manifest.json') && [...top].some((l) => /(^|\/)layer\.tar$|^blobs\/sha256\/|\.tar$/.test(l)) ? 'docker-archive' : 'tarball', path};
}

/** The kernel modules directory to add: VERSION -> /lib/modules/VERSION; a PATH is taken as it is. */
export function kernelModules(spec: string | undefined, modulesRoot = '/lib/modules'): {version: string; dir: string} {
  const of = (dir: string) => {
    if (!existsSync(join(dir, 'modules.dep'))) throw new CliError(`${dir} is not a kernel modules directory (it has no modules.dep)`, {code: 'LC_ERR_IMAGE_BUILD', hint: 'give --kernel VERSION of an installed kernel (apt-get install linux-image-amd64), or --no-modules'});
    return {version: basename(dir), dir};
  };
  if (spec && spec.includes('/')) return of(resolve(spec));
  if (spec) return of(join(modulesRoot, spec));
  let versions: string[] = [];
  try { versions = readdirSync(modulesRoot).filter((v) => existsSync(join(modulesRoot, v, 'modules.dep'))); } catch { /* none */ }
  const newest = versions.sort((a, b) => a.localeCompare(b, undefined, {numeric: true})).at(-1);
  if (!newest) throw new CliError(`no kernel modules in ${modulesRoot} to add to the image`, {code: 'LC_ERR_IMAGE_BUILD', hint: 'install the Layer0 kernel (apt-get install linux-image-amd64), give --kernel, or --no-modules'});
  return of(join(modulesRoot, newest));
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The only tag of an OCI layout, or a clear error. */
function onlyTag(layout: string): string {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {manifests?: {annotations?: Record<string, string>}[]};
  const tags = (index.manifests ?? []).map((m) => m.annotations?.['org.opencontainers.image.ref.name']).filter((t): t is string => !!t);
  if (tags.length !== 1) throw sourceError(`the OCI layout ${layout} has ${tags.length ? `the tags ${tags.join(', ')}` : 'no tag'}: name one as ${layout}:TAG`);
  return tags[0]!;
}

function needTool(tool: string, pkg: string): void {
  if (!which(tool)) throw new CliError(`${tool} is not installed`, {code: 'LC_ERR_IMAGE_BUILD', hint: `apt-get install ${pkg}`});
}

/** Fills `rootfs` from the source. */
async function unpack(src: {kind: SourceKind; path: string; tag?: string}, scratch: string, rootfs: string): Promise<void> {
  if (src.kind === 'directory') {
    mkdirSync(rootfs);
    await run('cp', ['-a', `${src.path}/.`, rootfs], {timeoutMs: 0});
  } else if (src.kind === 'tarball') {
    mkdirSync(rootfs);
    await run('tar', ['-xpf', src.path, '-C', rootfs, '--numeric-owner'], {timeoutMs: 0});
  } else {
    needTool('umoci', 'umoci');
    let layout = src.path;
    let tag = src.tag!;
    if (src.kind === 'docker-archive') {
      needTool('skopeo', 'skopeo');
      layout = join(scratch, 'oci');
      tag = 'image';
      await run('skopeo', ['copy', '--quiet', `docker-archive:${src.path}`, `oci:${layout}:${tag}`], {timeoutMs: 0});
    }
    const bundle = join(scratch, 'bundle');
    await run('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle], {timeoutMs: 0});
    await run('mv', [join(bundle, 'rootfs'), rootfs]);
  }
}

/** `dir` inside the image, made if missing; symlinks (merged /usr) are followed inside the image only. */
function inImage(rootfs: string, dir: string): string {
  const parts = dir.split('/').filter(Boolean);
  let path = '/';
  for (const part of parts) {
    path = `${path === '/' ? '' : path}/${part}`;
    const real = resolveInRoot(rootfs, path);
    if (real) path = real.slice(rootfs.length) || '/';
    else mkdirSync(join(rootfs, path), {mode: 0o755});
  }
  return join(rootfs, path);
}

/** Builds the image and adds it to the catalogue; returns its entry. */
export async function buildImage(catalogue: Catalogue, opts: BuildOptions): Promise<CatalogueEntry> {
  const {name, version} = parseRef(opts.ref);
  if (!opts.force && catalogue.get(opts.ref)) throw existsError(opts.ref);
  const src = await sourceKind(opts.source);
  const modules = opts.noModules ? undefined : kernelModules(opts.kernel);
  needTool('mksquashfs', 'squashfs-tools');
  const say = opts.progress ?? (() => undefined);
  const scratch = catalogue.scratch('build');
  mkdirSync(scratch, {mode: 0o700});
  try {
    const rootfs = join(scratch, 'rootfs');
    say(`unpacking ${src.kind} ${src.path}${src.tag ? `:${src.tag}` : ''}`);
    await unpack(src, scratch, rootfs).catch((error) => { throw src.kind === 'tarball' ? sourceError(`cannot unpack the tarball ${src.path}: ${(error as Error).message}`) : toolError(error); });
    if (modules) {
      say(`adding the modules of kernel ${modules.version} (${modules.dir})`);
      const target = inImage(rootfs, '/lib/modules');
      rmSync(join(target, modules.version), {recursive: true, force: true});
      await run('cp', ['-a', modules.dir, join(target, modules.version)], {timeoutMs: 0}).catch((e) => { throw toolError(e); });
    }
    writeFileSync(join(inImage(rootfs, '/etc'), 'layercake-image'), `${name}:${version}\n`, {mode: 0o644});
    const image = join(scratch, 'image.squashfs');
    say('packing the squashfs (zstd)');
    await run('mksquashfs', [rootfs, image, '-comp', 'zstd', '-noappend', '-no-progress', '-quiet', '-mkfs-time', '0', '-all-time', '0'], {timeoutMs: 0}).catch((e) => { throw toolError(e); });
    const sha256 = await sha256File(image);
    const entry: CatalogueEntry = {name, version, sha256, size: statSync(image).size, built: new Date().toISOString(),
      source: `${src.kind} ${src.path}${src.tag ? `:${src.tag}` : ''}`, kernel: modules?.version ?? ''};
    await catalogue.add(entry, image, !!opts.force);
    return entry;
  } finally {
    rmSync(scratch, {recursive: true, force: true});
  }
}
