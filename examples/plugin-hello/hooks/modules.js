// The daemon runs the `layercake:modules` hook of every installed plugin once at start and registers the
// modules returned. The options carry the runtime sdk, so this plugin imports nothing.
import {helloModule} from '../module.js';

export default async function modules({sdk}) {
  return [helloModule(sdk)];
}
