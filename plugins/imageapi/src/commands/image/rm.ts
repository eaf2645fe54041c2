import {Args, Flags} from '@oclif/core';
import {BaseCommand, CliError, confirmAction, type NodeView} from '@layercake/sdk';
import {Catalogue, parseRef, type CatalogueEntry} from '../../catalogue/catalogue.js';
import {catalogueDir} from '../../catalogue/config.js';

/** The nodes whose cfg names the image (by its reference or its checksum). */
function users(views: NodeView[], entry: CatalogueEntry): string[] {
  const ref = `${entry.name}:${entry.version}`;
  return views.filter((v) => {
    const images = ((v.cfg.extensions.imageset ?? {}) as {images?: Record<string, {source?: {ref?: string; sha256?: string}}>}).images ?? {};
    return Object.values(images).some((img) => img.source?.ref === ref || img.source?.sha256 === entry.sha256);
  }).map((v) => v.cfg.nodename || v.cfg.id);
}

export default class ImageRm extends BaseCommand<typeof ImageRm> {
  static override summary = 'Remove an image from the parent\'s catalogue (refused while a node\'s cfg names it).';
  static override description = 'Asks the daemon which nodes name the image in their cfg (by NAME:VERSION or sha256) and refuses while any does, unless --force (nodes that then need it again fail with a 404 in `node why`). Asks for confirmation (--yes skips it).';
  static override examples = ['<%= config.bin %> <%= command.id %> demo:v1', '<%= config.bin %> <%= command.id %> demo:v1 --yes --json'];
  static override args = {ref: Args.string({description: 'NAME:VERSION', required: true})};
  static override flags = {
    force: Flags.boolean({char: 'f', summary: 'Remove it even while nodes name it (or when the daemon cannot be asked).'}),
    yes: Flags.boolean({char: 'y', summary: 'Do not ask for confirmation.'}),
    catalogue: Flags.string({summary: 'The catalogue directory (default: LAYERCAKE_IMAGES, modules.pxe.http.imagesDir, then <stateDir>/images).'}),
  };

  public async run(): Promise<{removed: CatalogueEntry}> {
    parseRef(this.args.ref);
    const {config} = await this.fileConfig();
    const catalogue = new Catalogue(catalogueDir(config, this.flags.catalogue));
    const entry = catalogue.require(this.args.ref);
    let using: string[] = [];
    try {
      using = users(await (await this.api()).listNodes(), entry);
    } catch (error) {
      if (!this.flags.force) throw new CliError(`cannot ask the daemon which nodes use ${this.args.ref}: ${(error as Error).message}`, {code: 'LC_ERR_IMAGE_IN_USE', hint: 'start the daemon (or give --url), or --force to remove it without checking'});
    }
    if (using.length && !this.flags.force) throw new CliError(`${this.args.ref} is named in the cfg of ${using.length} node(s): ${using.join(', ')}`, {code: 'LC_ERR_IMAGE_IN_USE'});
    await confirmAction(`Remove ${this.args.ref} (sha256 ${entry.sha256.slice(0, 16)}) from the catalogue${using.length ? `, though ${using.join(', ')} use it` : ''}?`, {yes: this.flags.yes, json: this.jsonEnabled()});
    const removed = await catalogue.remove(this.args.ref);
    this.log(`removed ${this.args.ref}`);
    return {removed};
  }
}
