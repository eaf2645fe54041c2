import type {Hook} from '@oclif/core';
import {simModule} from '../module.js';

const hook: Hook<'layercake:modules'> = async function () {
  return [simModule];
};

export default hook;
