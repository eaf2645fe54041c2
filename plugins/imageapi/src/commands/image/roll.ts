import {Flags} from '@oclif/core';
import {BaseCommand, CliError, dim, durationFlag, followConvergence, formatChanges, progressMode, resolveTargets, type ApplyResult, type FollowResult, type NodeView} from '@layercake/sdk';
import {Catalogue} from '../../catalogue/catalogue.js';
import {catalogueDir, httpSource, imageServer} from '../../catalogue/config.js';
import {cfgDigest, completeNew, merge, parseImageAssignment, rollFailure} from '../../cli.js';

export interface ImageRollResult {
  changes: ApplyResult['changes'];
  dryRun: boolean;
  wait?: FollowResult;
}

export default class ImageRoll extends BaseCommand<typeof ImageRoll> {
  static override summary = 'Roll nodes to new Layer1 images: set the images in their cfg; the nodes replace the containers without rebooting.';
  static override description = `--image NAME=SPEC sets one image (repeat for several): SPEC is IMAGE:VERSION of the parent's catalogue (layercake image catalogue; the nodes fetch it over HTTP from the pxe server, checksummed), an image file path (for an existing image only its source path changes; a new image gets a file source and /sbin/init as a systemd init), or a JSON object merged into the image's cfg, e.g. '{"source":{"kind":"nfs","host":"nas","path":"/export/centos"},"container":{"command":"/sbin/init"}}'. --remove NAME drops an image. The node's image set is asked to be ACTIVE unless its cfg says IDLE. A node that is BUSY rolls once it is FREE. With --wait, follows the nodes until the images run as configured (or fail: layercake image list shows the last error).`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> n01 --image base=demo:v2 --wait',
    '<%= config.bin %> <%= command.id %> "n[01-16]" --image compute=/images/compute-2024.10.sqfs --wait',
    {description: 'A new image with its own init.', command: `<%= config.bin %> <%= command.id %> n01 --image 'tools={"source":{"kind":"file","path":"/images/tools.sqfs"},"container":{"command":["/bin/sh","-c","exec sleep infinity"]}}'`},
    {description: 'Show the cfg changes only.', command: '<%= config.bin %> <%= command.id %> --all --image compute=/images/compute-new.sqfs --dry-run'},
  ];

  static override strict = false;
  static override usage = '<%= command.id %> NODES... | --all --image NAME=SPEC... [--remove NAME...] [--wait]';
  static override flags = {
    image: Flags.string({char: 'i', summary: 'NAME=SPEC: an image path, or a JSON object merged into the image\'s cfg (repeatable).', multiple: true}),
    remove: Flags.string({summary: 'An image to remove from the nodes (repeatable).', multiple: true}),
    all: Flags.boolean({summary: 'Act on every node (required when no NODES are given).'}),
    wait: Flags.boolean({char: 'w', summary: 'Follow the nodes until their images run as configured.'}),
    timeout: durationFlag({summary: 'How long --wait may take.', default: '10m'}),
    'dry-run': Flags.boolean({summary: 'Print the cfg changes, change nothing.'}),
    catalogue: Flags.string({summary: 'With NAME=IMAGE:VERSION: the catalogue directory (default: LAYERCAKE_IMAGES, modules.pxe.http.imagesDir, then <stateDir>/images).'}),
    'image-server': Flags.string({summary: 'With NAME=IMAGE:VERSION: http://HOST:PORT the nodes fetch images from (default: LAYERCAKE_IMAGE_SERVER, else the pxe HTTP server: modules.pxe.serverIp or interface, http.port).'}),
  };

  public async run(): Promise<ImageRollResult> {
    const images = this.flags.image ?? [];
    const removals = this.flags.remove ?? [];
    if (images.length === 0 && removals.length === 0) throw new CliError('nothing to roll', {code: 'LC_ERR_USAGE', exit: 2, hint: 'give --image NAME=SPEC (or --remove NAME)'});
    let assignments: {name: string; patch: Record<string, unknown>}[];
    try {
      assignments = images.map(parseImageAssignment);
    } catch (error) {
      throw new CliError((error as Error).message, {code: 'LC_ERR_USAGE', exit: 2});
    }
    const timeoutMs = this.flags.timeout;
    const sources = await this.catalogueSources(assignments);
    const client = await this.api();
    const {views} = await resolveTargets(client, this.argvRest, {all: this.flags.all});
    const patches = views.map((view) => {
      const set = (view.cfg.extensions.imageset ?? {}) as {state?: string; images?: Record<string, unknown>};
      const next: Record<string, unknown> = {};
      for (const {name, patch} of assignments) {
        const current = set.images?.[name];
        next[name] = current ? merge(current, patch) : completeNew(patch);
        if (sources.has(name)) (next[name] as Record<string, unknown>).source = sources.get(name); // a new source replaces the old one whole
      }
      for (const name of removals) next[name] = null; // apply: null removes the key
      const state = !set.state || set.state === 'UNKNOWN' ? {state: 'ACTIVE'} : {};
      if (set.state === 'IDLE') this.warn(`${view.cfg.nodename || view.cfg.id}: its image set is configured IDLE; the images change in cfg but do not start (layercake node set ... imageset.state=ACTIVE)`);
      return {id: view.cfg.id, extensions: {imageset: {...state, images: next}}};
    });
    // The images first, then the set's goal: the engine plans on a change of imageset.state itself, and
    // (as of this writing) not when the whole extension appears in one write.
    const fresh0 = patches.filter((_, i) => !views[i].cfg.extensions.imageset && !this.flags['dry-run']);
    if (fresh0.length) await client.apply(fresh0.map((p) => ({id: p.id, extensions: {imageset: {images: p.extensions.imageset.images}}})));
    const result = await client.apply(patches, {dryRun: this.flags['dry-run']});
    if (fresh0.length) result.changes.unshift(...fresh0.map((p) => ({id: p.id, nodename: views.find((v) => v.cfg.id === p.id)!.cfg.nodename, url: '/extensions/imageset/images', value: p.extensions.imageset.images as never})));
    for (const line of formatChanges(result.changes)) this.log(line);
    if (this.flags['dry-run']) {
      this.log(`${result.changes.length} change(s) ${dim('(dry run: nothing was changed)')}`);
      return {changes: result.changes, dryRun: true};
    }
    if (result.changes.length === 0) this.log('the nodes already have these images in their cfg');
    if (!this.flags.wait) return {changes: result.changes, dryRun: false};
    const names = [...assignments.map((a) => a.name)];
    const rolled = (view: NodeView) => {
      const cfg = (view.cfg.extensions.imageset ?? {}) as {images?: Record<string, unknown>};
      const dsc = (view.dsc.extensions.imageset ?? {}) as {state?: string; images?: Record<string, {state?: string; applied?: string}>};
      if (dsc.state !== 'ACTIVE') return false;
      if (removals.some((n) => dsc.images?.[n])) return false;
      return names.every((n) => dsc.images?.[n]?.applied === cfgDigest(cfg.images?.[n]) && (dsc.images?.[n]?.state === 'ACTIVE' || dsc.images?.[n]?.state === 'IDLE'));
    };
    // An image of the roll that fails on the node (its file does not exist, it does not start): the roll failed.
    const failure = (view: NodeView) => rollFailure(view, names) || undefined;
    const fresh = await resolveTargets(client, views.map((v) => v.cfg.id));
    const wait = await followConvergence({
      client, views: fresh.views, enums: await client.stateEnumerables(), mode: progressMode(views.length, {json: this.jsonEnabled()}),
      timeoutMs, isDone: rolled, isFailed: failure, doneLabel: 'rolled', log: (line) => this.log(line),
    });
    this.log(`${wait.converged} rolled${wait.failed ? `, ${wait.failed} failed` : ''}${wait.timedOut ? `, ${wait.timedOut} still rolling at the time limit` : ''}`);
    const failed = wait.nodes.filter((n) => n.outcome !== 'converged');
    if (failed.length) {
      // The nodes that did not roll get their previous images back in cfg: the roll changes nothing there.
      const back = failed.map((n) => ({id: n.id, extensions: {imageset: {images: previousImages(views.find((v) => v.cfg.id === n.id)!, assignments.map((a) => a.name), removals)}}}));
      await client.apply(back);
      process.exitCode = 1;
      if (!this.jsonEnabled()) {
        const missing = failed.find((n) => /does not exist/.test(n.reason ?? ''));
        throw new CliError(`${failed.length} of ${wait.nodes.length} node(s) did not roll (their images were put back in cfg): ${failed.map((n) => `${n.nodename}: ${n.reason ?? n.outcome}`).join('; ')}`, {
          code: missing ? 'LC_ERR_IMAGE_UNKNOWN' : 'LC_ERR_NOT_CONVERGED',
          hint: missing ? undefined : 'layercake image list NODES shows each image\'s last error; layercake node why NODE the engine\'s view',
          exit: missing ? 2 : 1,
        });
      }
    }
    return {changes: result.changes, dryRun: false, wait};
  }

  /** The http sources of the NAME:VERSION assignments, resolved in the parent's catalogue (refused if absent: nothing changes). */
  private async catalogueSources(assignments: {name: string; ref?: string}[]): Promise<Map<string, Record<string, unknown>>> {
    const refs = assignments.filter((a) => a.ref);
    const out = new Map<string, Record<string, unknown>>();
    if (refs.length === 0) return out;
    const {config} = await this.fileConfig();
    const catalogue = new Catalogue(catalogueDir(config, this.flags.catalogue));
    const entries = refs.map((a) => [a.name, catalogue.require(a.ref!)] as const);
    const server = imageServer(config, this.flags['image-server']);
    for (const [name, entry] of entries) out.set(name, httpSource(entry, server));
    return out;
  }
}

/** A node's cfg images of these names as they were before the roll (null: the image was not there). */
function previousImages(view: NodeView, names: readonly string[], removed: readonly string[]): Record<string, unknown> {
  const images = ((view.cfg.extensions.imageset ?? {}) as {images?: Record<string, unknown>}).images ?? {};
  return Object.fromEntries([...names, ...removed].map((n) => [n, images[n] ?? null]));
}
