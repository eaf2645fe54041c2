import type {ModuleSpec} from '@layercake/sdk';
import {imagesetModule} from '../module/imageset.js';

/** The `layercake:modules` hook: the daemon registers the imageset module. */
export default async function modules(): Promise<ModuleSpec[]> {
  return [imagesetModule as unknown as ModuleSpec];
}
