import type {ModuleSpec} from '@layercake/sdk';
import {imagesetModule} from '../module/imageset.js';
import {rollModule} from '../roll/record.js';

/** The `layercake:modules` hook: the daemon registers the imageset module and the roll record's. */
export default async function modules(): Promise<ModuleSpec[]> {
  return [imagesetModule as unknown as ModuleSpec, rollModule];
}
