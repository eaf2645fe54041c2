import {BaseCommand, colorState, dim, matchTargets, red, renderTable} from '@layercake/sdk/cli';
import {imageRows, type ImageRow} from '../../cli.js';

export default class ImageStatus extends BaseCommand<typeof ImageStatus> {
  static override summary = 'What runs where: every node\'s Layer1 images, their state, container and last error.';
  static override description = `One line per node and image. STATE is the image's state on the node (IDLE, ACTIVE, UPDATE: a roll is due, ERROR: being retried, FATAL: given up, with the reason in LAST ERROR); a "→ roll" mark shows a cfg that differs from what runs. The set's state is the engine-visible imageset.state.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> "n[01-16]"',
    '<%= config.bin %> <%= command.id %> n01 --json',
  ];

  static override strict = false;
  static override usage = '<%= command.id %> [NODES...]';

  public async run(): Promise<{images: ImageRow[]}> {
    const client = await this.api();
    const all = await client.listNodes();
    const views = this.argvRest.length ? matchTargets(this.argvRest, all) : all;
    const rows = views.flatMap(imageRows).sort((a, b) => (a.node === b.node ? (a.image < b.image ? -1 : 1) : a.node < b.node ? -1 : 1));
    if (rows.length === 0) {
      this.log(views.length ? 'no images configured or running on these nodes (set them with layercake image roll)' : 'no nodes');
      return {images: rows};
    }
    this.log(renderTable(rows, [
      {header: 'NODE', get: (r) => r.node},
      {header: 'SET', get: (r) => colorState(r.set) + (r.setGoal !== 'UNKNOWN' && r.setGoal !== r.set ? dim(` → ${r.setGoal}`) : '')},
      {header: 'IMAGE', get: (r) => r.image + (r.removed ? dim(' (removed)') : '')},
      {header: 'STATE', get: (r) => (r.state ? colorState(r.state) : dim('-')) + (r.pending ? dim(' → roll') : '')},
      {header: 'CONTAINER', get: (r) => (r.containerId ? `${r.container} #${r.containerId}` : dim('-'))},
      {header: 'RETRIES', get: (r) => String(r.retries), right: true},
      {header: 'SOURCE', get: (r) => r.source},
      {header: 'LAST ERROR', get: (r) => (r.lastError ? red(r.lastError) : '')},
    ]));
    return {images: rows};
  }
}
