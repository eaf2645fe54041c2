import {Args, Flags} from '@oclif/core';
import {LocalCommand} from '@layercake/sdk';
import {buildImage} from '../../catalogue/build.js';
import {Catalogue, type CatalogueEntry} from '../../catalogue/catalogue.js';
import {catalogueDir} from '../../catalogue/config.js';

export default class ImageBuild extends LocalCommand<typeof ImageBuild> {
  static override summary = 'Build a Layer1 image (squashfs, zstd) into the parent\'s image catalogue, with the kernel modules of Layer0.';
  static override description = `Run it on the head, where the daemon's state directory is: the image goes into the catalogue (<stateDir>/images, or modules.pxe.http.imagesDir), from where the pxe plugin's HTTP server serves it to the nodes, and \`image roll NODES --image NAME=IMAGE:VERSION\` puts it in their cfg. SRC is a directory, a tarball (.tar, .tar.gz, .tar.xz, .tar.zst), an OCI image layout (DIR or DIR:TAG; umoci) or a docker-archive (docker save; skopeo), nothing is fetched from a registry. The modules of the Layer0 kernel (/lib/modules/VERSION of the newest installed kernel, or --kernel) are added under /lib/modules, and /etc/layercake-image holds NAME:VERSION. The same input gives the same sha256 (every time stamp is 0). A killed build leaves nothing in the catalogue.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> ./rootfs --name demo:v1',
    {description: 'From a tarball, without kernel modules.', command: '<%= config.bin %> <%= command.id %> rootfs.tar.gz --name tools:2024.10 --no-modules'},
    {description: 'From an OCI layout (e.g. made by umoci or skopeo copy), replacing an existing version.', command: '<%= config.bin %> <%= command.id %> ./debian-oci:bookworm --name debian:12 --force'},
  ];

  static override enableJsonFlag = true;
  static override args = {src: Args.string({description: 'A directory, a tarball, an OCI layout (DIR[:TAG]) or a docker-archive.', required: true})};
  static override flags = {
    name: Flags.string({char: 'n', summary: 'NAME:VERSION of the image in the catalogue, e.g. demo:v1.', required: true}),
    kernel: Flags.string({summary: 'The Layer0 kernel whose modules to add: a VERSION (/lib/modules/VERSION) or a modules directory PATH (default: the newest installed).'}),
    'no-modules': Flags.boolean({summary: 'Add no kernel modules.'}),
    force: Flags.boolean({char: 'f', summary: 'Replace NAME:VERSION if the catalogue has it.'}),
    catalogue: Flags.string({summary: 'The catalogue directory (default: LAYERCAKE_IMAGES, modules.pxe.http.imagesDir, then <stateDir>/images).'}),
  };

  public async run(): Promise<CatalogueEntry> {
    const {config} = await this.fileConfig();
    const catalogue = new Catalogue(catalogueDir(config, this.flags.catalogue));
    const progress = (line: string) => { if (!this.jsonEnabled()) this.logToStderr(`${line}...`); };
    const entry = await buildImage(catalogue, {ref: this.flags.name, source: this.args.src, kernel: this.flags.kernel, noModules: this.flags['no-modules'], force: this.flags.force, progress});
    this.log(`${entry.name}:${entry.version} sha256 ${entry.sha256} ${(entry.size / 2 ** 20).toFixed(1)} MiB in ${catalogue.dir}`);
    return entry;
  }
}
