/** @layercake/plugin-layer0: build Layer0 (the demo with VMs, tests and benchmarks build it too). */
export {buildLayer0, buildSteps, copyProgram, installBusybox, ARTIFACTS, MANIFEST, ROOTFS, type BuildOptions, type BuildResult, type ArtifactResult, type ClusterSettings, type Step} from './build/build.js';
export {findInputs, findKernel, type Inputs, type Program, type Requirement} from './build/inputs.js';
export {DEFAULT_MODULES, moduleClosure, readModuleDb} from './build/kmod.js';
export {headKeys, type HeadKeys} from './build/keys.js';
export {agentSettings, defaultArch} from './build/cluster.js';
export {bundleAgent} from './build/bundle.js';
export {cliModuleHooks, moduleHooksOf} from './build/hooks.js';
