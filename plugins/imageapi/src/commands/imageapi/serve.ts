import {Flags} from '@oclif/core';
import {LocalCommand} from '@layercake/sdk/cli';

export default class ImageApiServe extends LocalCommand<typeof ImageApiServe> {
  static override summary = 'Run the node\'s ImageAPI service: attach and mount images, run them as containers.';
  static override description = `An HTTP API (OpenAPI description at /openapi.json) with the resources /imageapi/v1/attach, /mount and /container. It runs as root: loop devices and mounts by system call (squashfs, overlay with a tmpfs or directory upper layer, bind, nfs), rbd and iscsiadm when installed, and unshare + chroot for containers (mount, PID, IPC and UTS namespaces). Its object table is kept in the state directory: a restarted service finds its containers again. It has no authentication: keep it on the loopback address (the default). --simulate needs no root: attachments and mounts are recorded, not performed, and each container is a stand-in process. Stops on SIGINT or SIGTERM; containers keep running unless --purge-on-exit.`;
  static override examples = [
    {description: 'On a node (as root), where the imageset module expects it.', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Simulated, for a test cluster on one machine.', command: '<%= config.bin %> <%= command.id %> --simulate --listen 127.0.0.1:18080 --state-dir /tmp/n01-imageapi'},
  ];

  static override flags = {
    listen: Flags.string({summary: 'HOST:PORT to listen on (port 0 picks a free one).', default: '127.0.0.1:8080'}),
    'state-dir': Flags.string({summary: 'Where the object table, mount points and container logs live.', default: '/var/lib/layercake/imageapi'}),
    simulate: Flags.boolean({summary: 'Record attachments and mounts instead of performing them; containers are stand-in processes (no root needed).'}),
    'purge-on-exit': Flags.boolean({summary: 'On exit, stop and delete every container and release every mount and attachment.'}),
    verbose: Flags.boolean({char: 'v', summary: 'Log every request.'}),
    debug: Flags.boolean({summary: 'Log how long each step of a container\'s create, replace and start takes (each tool run, the fetch, the stop).'}),
  };

  public async run(): Promise<{url: string; stateDir: string; simulate: boolean}> {
    // Loaded here, not at the top: every other command would otherwise pay for fastify.
    const {ImageApiService} = await import('../../service/service.js');
    const {startServer} = await import('../../service/server.js');
    const log = {
      info: (m: string) => this.log(m),
      warn: (m: string) => this.warn(m),
      error: (m: string) => this.logToStderr(`error: ${m}`),
      ...(this.flags.debug ? {debug: (m: string) => this.log(`debug: ${m}`)} : {}),
    };
    const service = await ImageApiService.open({stateDir: this.flags['state-dir'], simulate: this.flags.simulate, log});
    const server = await startServer(service, {listen: this.flags.listen, logger: this.flags.verbose});
    const result = {url: server.url, stateDir: service.stateDir, simulate: service.simulated};
    this.log(`ImageAPI ${service.simulated ? '(simulated) ' : ''}listening on ${server.url}/imageapi/v1 (OpenAPI: ${server.url}/openapi.json), state in ${service.stateDir}`);
    const unavailable = Object.entries(service.info().drivers).filter(([, d]) => !d.available).map(([name]) => name);
    if (unavailable.length) this.log(`not available on this node: ${unavailable.join(', ')}`);
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        server.close()
          .then(() => service.close({purge: this.flags['purge-on-exit']}))
          .catch((error: Error) => {
            this.logToStderr(`unclean stop: ${error.message}`);
            process.exitCode = 1;
          })
          .finally(resolve);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return result;
  }
}
