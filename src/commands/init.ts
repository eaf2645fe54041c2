import {resolve} from 'node:path';
import {Flags} from '@oclif/core';
import {LocalCommand} from '../cli/base-command.js';
import {DEFAULT_LISTEN, DEFAULT_STATE_DIR} from '../cli/config.js';
import {expandHostlist} from '../cli/hostlist.js';
import {type InitAnswers, type InitResult, writeInitFiles} from '../cli/init.js';

export default class Init extends LocalCommand<typeof Init> {
  static override summary = 'Write a starter layercake.config.yaml and cluster.yaml (asks on a terminal, or takes flags).';
  static override examples = [
    {description: 'Answer a few questions.', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Without questions.', command: '<%= config.bin %> <%= command.id %> --yes --nodes "n[01-04]" --platform ipmi --listen 0.0.0.0:3141'},
  ];

  static override flags = {
    dir: Flags.string({summary: 'Directory to write the files in.', default: '.'}),
    listen: Flags.string({summary: 'HOST:PORT the daemon API listens on.', default: DEFAULT_LISTEN}),
    'state-dir': Flags.string({summary: 'The daemon\'s state directory.', default: DEFAULT_STATE_DIR}),
    nodes: Flags.string({summary: 'Hostlist of the starter nodes, e.g. n[01-04] (empty: none).', default: 'n[01-04]'}),
    platform: Flags.string({summary: 'Platform of the starter nodes (e.g. ipmi).', default: ''}),
    arch: Flags.string({summary: 'Architecture of the starter nodes.', default: 'amd64'}),
    'power-on': Flags.boolean({summary: 'Configure the starter nodes up (physState POWER_ON, runState SYNC).', allowNo: true, default: false}),
    force: Flags.boolean({summary: 'Overwrite existing files.'}),
    yes: Flags.boolean({char: 'y', summary: 'Do not ask: use the flags and defaults.'}),
  };

  public async run(): Promise<InitResult> {
    const f = this.flags;
    const answers: InitAnswers = {
      dir: resolve(f.dir), listen: f.listen, stateDir: f['state-dir'], nodes: f.nodes, platform: f.platform, arch: f.arch, powerOn: f['power-on'], force: f.force,
    };
    if (!f.yes && this.interactive()) {
      const {confirm, input} = await import('@inquirer/prompts');
      answers.listen = await input({message: 'Address the daemon API listens on (HOST:PORT)', default: answers.listen, validate: (v) => /^.+:\d{1,5}$/.test(v) || 'expected HOST:PORT'});
      answers.stateDir = await input({message: 'State directory', default: answers.stateDir});
      answers.nodes = await input({
        message: 'Starter nodes (a hostlist such as n[01-16],gpu[1-4]; empty for none)', default: answers.nodes,
        validate: (v) => {
          if (!v.trim()) return true;
          try {
            expandHostlist(v);
            return true;
          } catch (error) {
            return (error as Error).message;
          }
        },
      });
      answers.platform = await input({message: 'Their platform (e.g. ipmi; empty if unknown)', default: answers.platform});
      answers.powerOn = await confirm({message: 'Should they be powered on and booted once applied?', default: answers.powerOn});
    }
    const result = writeInitFiles(answers);
    this.log(`wrote ${result.files.join(' and ')} (${result.nodes.length} node${result.nodes.length === 1 ? '' : 's'})`);
    this.log('next: layercake daemon   (in another terminal: layercake apply -f cluster.yaml, then layercake watch)');
    return result;
  }
}
