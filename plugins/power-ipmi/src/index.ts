/** @layercake/plugin-power-ipmi: the ipmi module and its parts (for the commands, tests and benchmark). */
export {ipmiModule, startIpmi, clientFromConfig, MUTATIONS, PLATFORM} from './module.js';
export {ipmiExtension, ipmiNodeSchema, type IpmiNode, type BootDevice, type DriverName} from './extension.js';
export {ipmiConfigSchema, type IpmiConfig, type IpmiConfigInput} from './config.js';
export {BmcClient, type BmcClientOptions} from './bmc/client.js';
export {Limiter} from './bmc/limiter.js';
export {CircuitBreaker} from './bmc/breaker.js';
export {NativeDriver} from './drivers/native.js';
export {IpmitoolDriver} from './drivers/ipmitool.js';
export type {BmcDriver, BmcTarget, PowerState, PowerAction, BootOptions} from './drivers/driver.js';
export {IpmiError, type IpmiErrorKind} from './errors.js';
export {parseIpmiNode, resolveTarget} from './credentials.js';
export {Poller} from './poller.js';
