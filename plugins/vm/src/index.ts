/** @layercake/plugin-vm: virtual machines with real BMCs on a network of their own (demo --vms, the boot test, bench/boot). */
export {Netns, bridgedNetwork, type BridgedNetwork} from './netns.js';
export {missingForVms, describeMissing, hasCommand, IPXE_ROM_DIR, NIC, type Missing} from './requirements.js';
export {kvmVerdict, defaultKvmCache, type KvmVerdict} from './kvm.js';
export {Vm, qemuArgs, newCredentials, type VmSpec, type VmOptions, type BmcCredentials} from './vm.js';
export {startVmLab, LAB_HTTP, LAB_SUBNET, VM_ARCH, type VmLab, type VmLabOptions} from './lab.js';
export {cleanConsole, lastLine, readFrom} from './console.js';
export {runVmDemo, DEMO_INDEX, type VmDemoOptions, type VmDemoResult} from './demo.js';
export {layer0BootRoot, VM_BOOT_ROOT} from './layer0.js';
export {stageDemoImage, demoCatalogue, demoImageset, DEMO_INIT, DEMO_REFS, VM_IMAGES, type DemoImageOptions, type DemoCatalogue, type DemoRef} from './demo-image.js';
