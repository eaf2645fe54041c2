/** The core's own modules, contributed the same way a plugin contributes its own. */
import type {Hook} from '@oclif/core';
import type {ModuleSpec} from '../model/contract.js';
import {busyModule} from '../busy/module.js';
import {sync} from '../sync/module.js';

export const coreModules: ModuleSpec[] = [sync, busyModule];

const hook: Hook<'layercake:modules'> = async function () {
  return coreModules;
};

export default hook;
