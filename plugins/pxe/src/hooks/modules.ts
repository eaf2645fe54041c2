import type {ModuleSpec} from '@layercake/sdk';
import {pxeModule} from '../module.js';

/** The `layercake:modules` hook: the daemon registers the pxe module. */
export default async function modules(): Promise<ModuleSpec[]> {
  return [pxeModule as unknown as ModuleSpec];
}
