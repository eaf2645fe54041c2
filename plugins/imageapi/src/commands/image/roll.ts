import {Flags} from '@oclif/core';
import type {NodeView} from '@layercake/sdk';
import {BaseCommand, CliError, compressHostlist, confirmAction, dim, durationFlag, followConvergence, formatChanges, progressMode, resolveTargets, type ApplyResult, type FollowResult} from '@layercake/sdk/cli';
import {Catalogue} from '../../catalogue/catalogue.js';
import {catalogueDir, httpSource, imageServer} from '../../catalogue/config.js';
import {applyRoll, isRolled, previousImages, resolveImages, rollFailure, rollPatch, type CatalogueLookup} from '../../roll/images.js';
import {clearRoll, readRoll, writeRoll, type RollRecord} from '../../roll/record.js';
import {checkStaging, runStagedRoll, type RollEvent} from '../../roll/staged.js';

export interface ImageRollResult {
  changes: ApplyResult['changes'];
  dryRun: boolean;
  wait?: FollowResult;
  /** A staged roll: its record as it ended, and what happened, batch by batch. */
  roll?: RollRecord;
  events?: RollEvent[];
}

export default class ImageRoll extends BaseCommand<typeof ImageRoll> {
  static override summary = 'Roll nodes to new Layer1 images: set the images in their cfg; the nodes replace the containers without rebooting.';
  static override description = `--image NAME=SPEC sets one image (repeat for several): SPEC is IMAGE:VERSION of the parent's catalogue (layercake image list; the nodes fetch it over HTTP from the pxe server, checksummed), an image file path (for an existing image only its source path changes; a new image gets a file source and /sbin/init as a systemd init), or a JSON object merged into the image's cfg, e.g. '{"source":{"kind":"nfs","host":"nas","path":"/export/centos"},"container":{"command":"/sbin/init"}}'. --remove NAME drops an image. The node's image set is asked to be ACTIVE unless its cfg says IDLE. A node that is BUSY (layercake busy on the node) rolls once it is FREE. With --wait, follows the nodes until the images run as configured (or fail: layercake image status shows the last error).

Staged roll (--batch N, as a Kubernetes rolling update): the nodes in hostlist order, N at a time; a batch starts only when at most --max-unavailable nodes of the roll (default N) would be out of service with it, so nodes that are already down make it wait (up to --timeout, which applies to each batch); the first batch that fails stops the roll: its failed nodes get their previous images back, the later batches keep theirs. The roll's record is kept by the daemon (on its own node, extension roll), so --resume continues it after a failure is fixed or the CLI was stopped. A roll of more than one node asks for confirmation (--yes off a terminal). See docs/layer1.md, "Staged rolls".`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> n01 --image base=demo:v2 --wait',
    '<%= config.bin %> <%= command.id %> n01 --image compute=/images/compute-2024.10.sqfs --wait',
    {description: 'Two nodes at a time, never more than two out of service.', command: '<%= config.bin %> <%= command.id %> "n[01-16]" --image compute=/images/compute-2024.10.sqfs --batch 2 --max-unavailable 2 --yes'},
    {description: 'Continue the last staged roll (after a failed batch was fixed, or the CLI was killed).', command: '<%= config.bin %> <%= command.id %> --resume --yes'},
    {description: 'A new image with its own init.', command: `<%= config.bin %> <%= command.id %> n01 --image 'tools={"source":{"kind":"file","path":"/images/tools.sqfs"},"container":{"command":["/bin/sh","-c","exec sleep infinity"]}}'`},
    {description: 'Show the cfg changes only.', command: '<%= config.bin %> <%= command.id %> --all --image compute=/images/compute-new.sqfs --dry-run'},
  ];

  static override strict = false;
  static override usage = [
    '<%= command.id %> NODES... | --all --image NAME=SPEC... [--remove NAME...] [--wait]',
    '<%= command.id %> NODES... --image NAME=SPEC... --batch N [--max-unavailable M] [--yes]',
    '<%= command.id %> --resume [--yes]',
  ];

  static override flags = {
    image: Flags.string({char: 'i', summary: 'NAME=SPEC: an image path, or a JSON object merged into the image\'s cfg (repeatable).', multiple: true}),
    remove: Flags.string({summary: 'An image to remove from the nodes (repeatable).', multiple: true}),
    all: Flags.boolean({summary: 'Act on every node (required when no NODES are given).'}),
    wait: Flags.boolean({char: 'w', summary: 'Follow the nodes until their images run as configured (a staged roll always does).'}),
    batch: Flags.integer({summary: 'Staged roll: this many nodes at a time, in hostlist order.'}),
    'max-unavailable': Flags.integer({summary: 'Staged roll: at most this many nodes of the roll out of service at once, those already down included (default: --batch).'}),
    resume: Flags.boolean({summary: 'Continue the last staged roll from where it stopped (its record is kept by the daemon).', exclusive: ['image', 'remove', 'all', 'batch', 'max-unavailable', 'abandon']}),
    abandon: Flags.boolean({summary: 'Forget an unfinished staged roll (the nodes keep what they run now).', exclusive: ['image', 'remove', 'all', 'batch', 'max-unavailable']}),
    yes: Flags.boolean({char: 'y', summary: 'Roll more than one node without asking.'}),
    timeout: durationFlag({summary: 'How long --wait may take (a staged roll: each batch).', default: '10m'}),
    'dry-run': Flags.boolean({summary: 'Print the cfg changes, change nothing.'}),
    catalogue: Flags.string({summary: 'With NAME=IMAGE:VERSION: the catalogue directory (default: LAYERCAKE_IMAGES, modules.pxe.http.imagesDir, then <stateDir>/images).'}),
    'image-server': Flags.string({summary: 'With NAME=IMAGE:VERSION: http://HOST:PORT the nodes fetch images from (default: LAYERCAKE_IMAGE_SERVER, else the pxe HTTP server: modules.pxe.serverIp or interface, http.port).'}),
  };

  public async run(): Promise<ImageRollResult> {
    if (this.flags.abandon) return this.abandon();
    if (this.flags.resume) return this.resume();
    const images = this.flags.image ?? [];
    const removals = this.flags.remove ?? [];
    if (images.length === 0 && removals.length === 0) throw new CliError('nothing to roll', {code: 'LC_ERR_USAGE', exit: 2, hint: 'give --image NAME=SPEC (or --remove NAME), or --resume to continue the last staged roll'});
    const staged = this.flags.batch !== undefined || this.flags['max-unavailable'] !== undefined;
    if (staged) checkStaging(this.flags.batch ?? 1, this.flags['max-unavailable'] ?? this.flags.batch ?? 1);
    const catalogue = await this.catalogueLookup();
    const assignments = resolveImages(images, catalogue);
    const client = await this.api();
    const {views} = await resolveTargets(client, this.argvRest, {all: this.flags.all});
    if (staged) return this.startStaged(views, images, removals);
    const patches = views.map((view) => {
      if ((view.cfg.extensions.imageset as {state?: string} | undefined)?.state === 'IDLE') this.warn(`${view.cfg.nodename || view.cfg.id}: its image set is configured IDLE; the images change in cfg but do not start (layercake node set ... imageset.state=ACTIVE)`);
      return rollPatch(view, assignments, removals);
    });
    if (!this.flags['dry-run'] && views.length > 1) await this.confirm(views);
    const result = await applyRoll(client, views, patches, this.flags['dry-run']);
    for (const line of formatChanges(result.changes)) this.log(line);
    if (this.flags['dry-run']) {
      this.log(`${result.changes.length} change(s) ${dim('(dry run: nothing was changed)')}`);
      return {changes: result.changes, dryRun: true};
    }
    if (result.changes.length === 0) this.log('the nodes already have these images in their cfg');
    if (!this.flags.wait) return {changes: result.changes, dryRun: false};
    const names = assignments.map((a) => a.name);
    const fresh = await resolveTargets(client, views.map((v) => v.cfg.id));
    const wait = await followConvergence({
      client, views: fresh.views, enums: await client.stateEnumerables(), mode: progressMode(views.length, {json: this.jsonEnabled()}),
      timeoutMs: this.flags.timeout, isDone: (v) => isRolled(v, names, removals), isFailed: (v) => rollFailure(v, names), doneLabel: 'rolled', log: (line) => this.log(line),
    });
    this.log(`${wait.converged} rolled${wait.failed ? `, ${wait.failed} failed` : ''}${wait.timedOut ? `, ${wait.timedOut} still rolling at the time limit` : ''}`);
    const failed = wait.nodes.filter((n) => n.outcome !== 'converged');
    if (failed.length) {
      // The nodes that did not roll get their previous images back in cfg: the roll changes nothing there.
      const back = failed.map((n) => ({id: n.id, extensions: {imageset: {images: previousImages(views.find((v) => v.cfg.id === n.id)!, names, removals)}}}));
      await client.apply(back);
      process.exitCode = 1;
      if (!this.jsonEnabled()) {
        const missing = failed.find((n) => /does not exist/.test(n.reason ?? ''));
        throw new CliError(`${failed.length} of ${wait.nodes.length} node(s) did not roll (their images were put back in cfg): ${failed.map((n) => `${n.nodename}: ${n.reason ?? n.outcome}`).join('; ')}`, {
          code: missing ? 'LC_ERR_IMAGE_UNKNOWN' : 'LC_ERR_NOT_CONVERGED',
          hint: missing ? undefined : 'layercake image status NODES shows each image\'s last error; layercake node why NODE the engine\'s view',
          exit: missing ? 2 : 1,
        });
      }
    }
    return {changes: result.changes, dryRun: false, wait};
  }

  /**
   * Finds NAME:VERSION in the parent's catalogue and gives the http source nodes fetch it from (a name
   * that is not there is refused: nothing changes). The image server is looked up only when needed.
   */
  private async catalogueLookup(): Promise<CatalogueLookup> {
    const {config} = await this.fileConfig();
    const catalogue = new Catalogue(catalogueDir(config, this.flags.catalogue));
    let server: string | undefined;
    return (ref) => {
      const entry = catalogue.require(ref);
      server ??= imageServer(config, this.flags['image-server']);
      return httpSource(entry, server);
    };
  }

  private async confirm(views: readonly NodeView[]): Promise<void> {
    const names = compressHostlist(views.map((v) => v.cfg.nodename || v.cfg.id));
    await confirmAction(`Roll the images of ${views.length} nodes (${names})? Their containers restart on the new images`, {yes: this.flags.yes, json: this.jsonEnabled()});
  }

  private async startStaged(views: NodeView[], images: string[], removals: string[]): Promise<ImageRollResult> {
    const client = await this.api();
    const {self, record: last} = await readRoll(client);
    if (last && last.status !== 'done') {
      throw new CliError(`a staged roll of ${compressHostlist(last.nodes)} is unfinished (${last.status}, ${last.rolled}/${last.nodes.length} rolled): one roll at a time`, {
        code: 'LC_ERR_ROLL_UNFINISHED', exit: 2, hint: 'continue it with `layercake image roll --resume`, or forget it with `layercake image roll --abandon`; nothing was changed',
      });
    }
    const unnamed = views.filter((v) => !v.cfg.nodename);
    if (unnamed.length) throw new CliError(`a staged roll goes by nodenames (hostlist order); ${unnamed[0].cfg.id} has none`, {code: 'LC_ERR_USAGE', exit: 2, hint: 'give the nodes names (layercake node set ID nodename=NAME); nothing was changed'});
    const batch = this.flags.batch ?? 1;
    const record: RollRecord = {
      id: new Date().toISOString(), status: 'rolling', nodes: views.map((v) => v.cfg.nodename), images, remove: removals,
      batch, maxUnavailable: this.flags['max-unavailable'] ?? batch, rolled: 0, failed: [], started: new Date().toISOString(), updated: '',
    };
    if (this.flags['dry-run']) {
      const assignments = resolveImages(images, await this.catalogueLookup());
      const patches = views.map((v) => rollPatch(v, assignments, removals));
      const result = await applyRoll(client, views, patches, true);
      for (const line of formatChanges(result.changes)) this.log(line);
      this.log(`${result.changes.length} change(s) in batches of ${batch} ${dim('(dry run: nothing was changed)')}`);
      return {changes: result.changes, dryRun: true, roll: record};
    }
    if (views.length > 1) await this.confirm(views);
    await writeRoll(client, self, record, true);
    return this.runStaged(self, record);
  }

  private async resume(): Promise<ImageRollResult> {
    const client = await this.api();
    const {self, record} = await readRoll(client);
    if (!record || record.status === 'done') {
      throw new CliError(record ? `the last staged roll (${compressHostlist(record.nodes)}) is done: nothing to resume` : 'no staged roll to resume', {
        code: 'LC_ERR_ROLL_NONE', exit: 2, hint: 'start one with `layercake image roll NODES --image NAME=SPEC --batch N`',
      });
    }
    this.log(`resuming the roll of ${compressHostlist(record.nodes)} (${record.images.join(' ')}${record.remove.length ? ` -${record.remove.join(' -')}` : ''}): ${record.rolled}/${record.nodes.length} rolled, batches of ${record.batch}, at most ${record.maxUnavailable} unavailable`);
    if (record.nodes.length - record.rolled > 1) {
      await confirmAction(`Roll the images of ${record.nodes.length - record.rolled} more nodes?`, {yes: this.flags.yes, json: this.jsonEnabled()});
    }
    return this.runStaged(self, record);
  }

  private async runStaged(self: string, record: RollRecord): Promise<ImageRollResult> {
    const client = await this.api();
    const events = await runStagedRoll({
      client, self, record, catalogue: await this.catalogueLookup(), timeoutMs: this.flags.timeout, enums: await client.stateEnumerables(),
      mode: progressMode(record.batch, {json: this.jsonEnabled()}), log: (line) => this.log(line),
    });
    return {changes: [], dryRun: false, roll: record, events};
  }

  private async abandon(): Promise<ImageRollResult> {
    const client = await this.api();
    const {self, record} = await readRoll(client);
    if (!record) throw new CliError('no staged roll to abandon', {code: 'LC_ERR_ROLL_NONE', exit: 2, hint: 'nothing was changed'});
    await clearRoll(client, self);
    this.log(`forgot the roll of ${compressHostlist(record.nodes)} (${record.status}, ${record.rolled}/${record.nodes.length} rolled); the nodes keep what they run now`);
    return {changes: [], dryRun: false, roll: record};
  }
}
