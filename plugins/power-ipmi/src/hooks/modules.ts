/** The `layercake:modules` hook: the daemon registers the modules every plugin returns. */
import type {ModuleSpec} from '@layercake/sdk';
import {ipmiModule} from '../module.js';

export default async function modules(): Promise<ModuleSpec[]> {
  return [ipmiModule as unknown as ModuleSpec];
}
