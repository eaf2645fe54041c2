import {Flags} from '@oclif/core';
import {LocalCommand, dim, renderTable} from '@layercake/sdk/cli';
import {Catalogue, type CatalogueEntry} from '../../catalogue/catalogue.js';
import {catalogueDir} from '../../catalogue/config.js';

export default class ImageList extends LocalCommand<typeof ImageList> {
  static override summary = 'The parent\'s image catalogue: every NAME:VERSION, its sha256, size and build time.';
  static override description = 'What `image build` made and `image roll --image NAME=IMAGE:VERSION` can give the nodes (`image status` shows what runs on them).';
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json'];
  static override enableJsonFlag = true;
  static override flags = {
    catalogue: Flags.string({summary: 'The catalogue directory (default: LAYERCAKE_IMAGES, modules.pxe.http.imagesDir, then <stateDir>/images).'}),
  };

  public async run(): Promise<{images: CatalogueEntry[]}> {
    const {config} = await this.fileConfig();
    const catalogue = new Catalogue(catalogueDir(config, this.flags.catalogue));
    const images = catalogue.entries();
    if (images.length === 0) {
      this.log(`the image catalogue ${catalogue.dir} is empty ${dim('(layercake image build SRC --name NAME:VERSION adds one)')}`);
      return {images};
    }
    this.log(renderTable(images, [
      {header: 'NAME', get: (e) => e.name},
      {header: 'VERSION', get: (e) => e.version},
      {header: 'SHA256', get: (e) => e.sha256.slice(0, 16)},
      {header: 'SIZE', get: (e) => `${(e.size / 2 ** 20).toFixed(1)} MiB`, right: true},
      {header: 'KERNEL', get: (e) => e.kernel || dim('-')},
      {header: 'BUILT', get: (e) => e.built},
    ]));
    return {images};
  }
}
