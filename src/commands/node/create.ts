import {Flags} from '@oclif/core';
import type {Node} from '../../api/types.js';
import {BaseCommand} from '../../cli/base-command.js';
import {expandHostlists} from '../../cli/hostlist.js';
import {isAssignment, parseAssignments} from '../../cli/assignments.js';
import {readNodes} from '../../cli/input.js';
import {setAt, toPointer} from '../../model/url.js';
import {CliError} from '../../cli/errors.js';

export interface NodeCreateResult {
  nodes: Node[];
}

export default class NodeCreate extends BaseCommand<typeof NodeCreate> {
  static override summary = 'Create nodes, from a file or from names with values; fails if any exists already.';
  static override examples = [
    {description: 'Create four nodes with the same values.', command: '<%= config.bin %> <%= command.id %> "n[01-04]" platform=ipmi arch=amd64'},
    {description: 'Create the nodes of a file (all or nothing).', command: '<%= config.bin %> <%= command.id %> -f nodes.yaml'},
  ];

  static override strict = false;
  static override usage = '<%= command.id %> (NODES [URL=value | URL:=json ...] | -f FILE)';
  static override flags = {
    file: Flags.string({char: 'f', summary: 'YAML or JSON file with the nodes, or - for stdin.'}),
  };

  public async run(): Promise<NodeCreateResult> {
    let inputs: unknown[];
    if (this.flags.file) {
      if (this.argvRest.length) throw new CliError('give either -f FILE or node names, not both', {code: 'LC_ERR_USAGE', exit: 2});
      inputs = await readNodes(this.flags.file);
    } else {
      const names = this.argvRest.filter((a) => !isAssignment(a));
      if (!names.length) throw new CliError('no nodes given', {code: 'LC_ERR_USAGE', exit: 2, hint: 'name the nodes (e.g. n[01-04]) or give -f FILE'});
      const values = parseAssignments(this.argvRest.filter(isAssignment));
      inputs = expandHostlists(names).map((nodename) => {
        const node: Record<string, unknown> = {nodename};
        for (const [url, value] of Object.entries(values)) setAt(node, toPointer(url), value);
        return node;
      });
    }
    const nodes = await (await this.api()).createNodes(inputs);
    for (const n of nodes) this.log(`created ${n.nodename || '(unnamed)'} ${n.id}`);
    return {nodes};
  }
}
