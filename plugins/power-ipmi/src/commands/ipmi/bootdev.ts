import {Flags} from '@oclif/core';
import {CliError} from '@layercake/sdk/cli';
import {IpmiCommand} from '../../cli/ipmi-command.js';
import type {NodeResult} from '../../actions.js';
import {BOOT_DEVICES, type BootDevice} from '../../extension.js';

export default class IpmiBootdev extends IpmiCommand<typeof IpmiBootdev> {
  static override summary = 'Set the device the nodes boot from next (pxe, disk, ...), through their BMCs.';
  static override description = `The last argument is the device: ${BOOT_DEVICES.join(', ')}. The setting holds for the next boot only unless --persistent. To have a node network-boot on every power-on by the engine, set ipmi.bootdev: pxe on it instead.`;
  static override usage = '<%= command.id %> NODES... DEVICE | --all DEVICE';
  static override examples = [
    '<%= config.bin %> <%= command.id %> "n[01-04]" pxe --password-file /etc/layercake/bmc.pw',
    '<%= config.bin %> <%= command.id %> n07 disk --efi --persistent',
  ];

  static override flags = {
    ...IpmiCommand.flags,
    efi: Flags.boolean({summary: 'Ask for a UEFI boot (else legacy BIOS).', default: false}),
    persistent: Flags.boolean({summary: 'Keep the device for every boot (else the next boot only).', default: false}),
  };

  public async run(): Promise<{device: BootDevice; nodes: NodeResult[]}> {
    const args = [...this.argvRest];
    const device = args.pop();
    if (!device || !(BOOT_DEVICES as readonly string[]).includes(device)) {
      throw new CliError(`the last argument must be the boot device (${BOOT_DEVICES.join(', ')})${device ? `, got "${device}"` : ''}`, {
        code: 'LC_ERR_USAGE', exit: 2, hint: 'e.g. layercake ipmi bootdev "n[01-04]" pxe',
      });
    }
    const {efi, persistent} = this.flags as {efi: boolean; persistent: boolean};
    const result = await this.perform(args, {kind: 'bootdev', device: device as BootDevice, efi, persistent}, 'bootdev');
    return {device: device as BootDevice, ...result};
  }
}
