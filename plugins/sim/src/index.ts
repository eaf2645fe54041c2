// Public surface of the sim plugin (the tests and bench/scale drive simulated clusters through it).
export {simModule, simConfigSchema, simExtension, type SimConfig} from './module.js';
export {BmcService, type PowerAction, type SimulatedBmc} from './bmc.js';
export {Machine, type MachineFaults, type MachineStage, type MachineStatus, type Layer0, type Layer0Factory} from './machine.js';
export {World, type WorldMachine, type WorldOptions, type WorldView} from './world.js';
export {WorldProcesses, type WorldProcessesOptions} from './world-processes.js';
export {dhcpLease, bootScript, kernelArgs, type BootTarget, type Lease} from './firmware.js';
export {layer0, SIM_IMAGES, type Layer0Options} from './layer0.js';
export {startCluster, machinesOf, clusterNodes, ipOf, type ClusterOptions, type SimulatedCluster} from './cluster.js';
export {convergence, renderStatus, type Convergence} from './status.js';
