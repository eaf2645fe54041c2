import {readFileSync} from 'node:fs';
import {Args, Flags} from '@oclif/core';
import {CliError, LocalCommand} from '@layercake/sdk/cli';
import {cleanConsole, readFrom} from '../console.js';
import {DEMO_INDEX} from '../demo.js';

export default class Console extends LocalCommand<typeof Console> {
  static override summary = 'Show and follow a demo VM\'s serial console (firmware, iPXE, kernel, Layer0).';
  static override description = `Reads the console log of a VM started by \`layercake demo --vms\` (each VM's serial port goes to a file) and follows it as it grows, like tail -f. Ctrl-C stops following; the VM keeps running. For a shell on the node, use its serial console's root shell or ssh -p 2022 root@<node address> from inside the demo's namespace.`;
  static override examples = [
    {description: 'Follow n01\'s console from the start.', command: '<%= config.bin %> <%= command.id %> n01'},
    {description: 'Print the last 40 lines and exit.', command: '<%= config.bin %> <%= command.id %> n02 --lines 40 --no-follow'},
  ];

  static override args = {node: Args.string({description: 'The VM\'s node name (n01, n02, ...).', required: true})};
  static override flags = {
    lines: Flags.integer({summary: 'Start with the last N lines (default: the whole log).', min: 0}),
    follow: Flags.boolean({summary: 'Keep printing what the VM writes (Ctrl-C to stop).', default: true, allowNo: true}),
  };

  public async run(): Promise<void> {
    let index: {consoles: Record<string, string>};
    try {
      index = JSON.parse(readFileSync(DEMO_INDEX, 'utf8'));
    } catch {
      throw new CliError(`no VM demo is running (${DEMO_INDEX} not found)`, {code: 'LC_ERR_VM_NO_DEMO'});
    }
    const file = index.consoles[this.args.node];
    if (!file) throw new CliError(`no VM named ${this.args.node} in the running demo (it has ${Object.keys(index.consoles).join(', ')})`, {code: 'LC_ERR_VM_NO_DEMO'});
    let {text, next} = readFrom(file, 0, 64 << 20);
    text = cleanConsole(text);
    if (this.flags.lines !== undefined) text = text.split('\n').slice(-this.flags.lines - 1).join('\n');
    process.stdout.write(text);
    if (!this.flags.follow) return;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const more = readFrom(file, next);
        next = more.next;
        if (more.text) process.stdout.write(cleanConsole(more.text));
      }, 250);
      const stop = () => { clearInterval(timer); resolve(); };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  }
}
