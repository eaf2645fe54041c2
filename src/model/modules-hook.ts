/**
 * The oclif hook `layercake:modules` (DESIGN §5): the daemon runs it once at start in every installed
 * plugin and registers every module returned (daemon/setup.ts collectModules).
 */
import type {ModuleSpec} from './contract.js';
import type * as kit from './plugin-kit.js';

/** The options the daemon passes to the `layercake:modules` hook. */
export interface ModulesHookOptions {
  /** The plugin kit (`@layercake/sdk`'s values), for plugins that ship plain JavaScript with no dependency on @layercake/sdk. */
  sdk: typeof kit;
}

declare module '@oclif/core' {
  interface Hooks {
    'layercake:modules': {options: ModulesHookOptions; return: ModuleSpec[]};
  }
}
