// Public surface of the pxe plugin (the simulator and benchmarks use the servers and packet codecs).
export {pxeModule, runPxe, leasesFile, readLeases, PXE_STATE, PXE_LEASE, type LeaseRecord} from './module.js';
export {pxeConfig, pxeConfigSchema, type PxeConfig} from './config.js';
export {pxeExtension, pxeExtensionSchema, ipv4Schema, type Ipv4, type Lease, type PxeExtension} from './extension.js';
export {bootNodeOf, type BootNode} from './bootnode.js';
export {PxeServers, serverAddress, tftpRoot} from './servers.js';
export {localPxe, type LocalPxe} from './cli.js';
export {chooseBoot, templateVars, type ServerInfo} from './boot.js';
export {render, variablesOf, TemplateError} from './template.js';
export {resolveFile, FileError, searchDirs} from './files.js';
export * as dhcp from './dhcp/packet.js';
export * as tftp from './tftp/packet.js';
export {DhcpServer} from './dhcp/server.js';
export {TftpServer} from './tftp/server.js';
export {HttpBootServer, parseRange} from './http/server.js';
