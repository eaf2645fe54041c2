/**
 * The simulation (`--simulate`): no root, no kernel state. Attachments and mounts are recorded (device
 * files and mountpoints are names only); a container is a plain process (`sleep infinity`) standing in
 * for its init, so that it can be listed, stopped, killed and found again after a restart exactly like a
 * real one. The API, the object table and the state machine are the same. The stand-ins are started by
 * a small spawner process shared by the whole process (spawner.ts), so that a start does not cost a fork
 * of a large process (a simulated cluster runs thousands of services in one).
 */
import {badRequest, failed} from '../api/errors.js';
import type {DriverStatus, HttpSpec, IscsiSpec, NfsSpec, Platform, RbdSpec, StartSpec, Started} from './platform.js';
import {startStandIn} from './spawner.js';

export class SimulatedPlatform implements Platform {
  readonly simulated = true;
  private readonly mounted = new Set<string>();
  private readonly loops = new Map<string, string>();
  private nextLoop = 0;

  /** `files`: the image files of the simulated world (a path not among them does not exist); absent, every path exists. */
  constructor(private readonly files?: ReadonlySet<string>) {}

  async init(): Promise<void> {}

  async shutdown(): Promise<void> {}

  drivers(): Record<string, DriverStatus> {
    const simulated = {available: true, reason: 'simulated: recorded, not performed'};
    return {loopback: simulated, http: simulated, local: simulated, rbd: simulated, iscsi: simulated, nfs: simulated, overlay: simulated, squashfs: simulated};
  }

  async attachLoopback(file: string): Promise<string> {
    const device = `/dev/sim-loop${this.nextLoop++}`;
    this.loops.set(device, file);
    return device;
  }

  /** Recorded, not fetched: a simulated cluster has no image server. */
  async attachHttp(spec: HttpSpec): Promise<string> {
    return this.attachLoopback(spec.url);
  }

  async detachHttp(device: string): Promise<void> {
    this.loops.delete(device);
  }

  async detachLoopback(device: string): Promise<void> {
    this.loops.delete(device);
  }

  /** After a restart nothing is recorded here: a simulated device is taken to be still bound. */
  loopbackFile(device: string): string | undefined {
    return this.loops.get(device) ?? '(simulated)';
  }

  checkFile(path: string, field: string): void {
    if (this.files && !this.files.has(path)) throw badRequest(field, `${path} does not exist`);
  }

  checkBlockDevice(): void {}

  checkPath(): void {}

  makeDir(): void {}

  removeDir(): void {}

  async rbdMap(spec: RbdSpec): Promise<string> {
    return `/dev/sim-rbd-${spec.pool}-${spec.image}`;
  }

  async rbdUnmap(): Promise<void> {}

  async iscsiLogin(spec: IscsiSpec): Promise<string> {
    return `/dev/sim-iscsi-${spec.lun}`;
  }

  async iscsiLogout(): Promise<void> {}

  async mount(_source: string, target: string): Promise<void> {
    this.mounted.add(target);
  }

  async mountNfs(_spec: NfsSpec, target: string): Promise<void> {
    this.mounted.add(target);
  }

  async bind(_source: string, target: string): Promise<void> {
    this.mounted.add(target);
  }

  async umount(target: string): Promise<void> {
    this.mounted.delete(target);
  }

  /** After a restart nothing is recorded: every recorded mount is taken to be still there. */
  isMounted(): boolean {
    return true;
  }

  checkCommand(): string {
    return '';
  }

  async start(spec: StartSpec): Promise<Started> {
    let standIn;
    try {
      standIn = await startStandIn(spec.logfile);
    } catch (error) {
      throw failed(`cannot start the stand-in process for container ${spec.name}: ${(error as Error).message}`);
    }
    const {pid, start, exited} = standIn;
    return {pid, pidStart: start, initPid: pid, initStart: start, exited};
  }
}
