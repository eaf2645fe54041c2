/**
 * A process of its own that opens a simulated service in the state directory argv[2], starts a
 * container, prints `{"pid": <stand-in>, "spawner": <spawner>}` and ends its script without closing
 * anything: it must then exit by itself (the spawner does not keep it alive), its spawner with it, and
 * the container's stand-in must survive (simulated.test.ts).
 */
import {ImageApiService} from '../../src/service/service.js';
import {spawnerPid} from '../../src/service/spawner.js';

const service = await ImageApiService.open({stateDir: process.argv[2], simulate: true});
const mount = {kind: 'overlay', overlay: {lower: [{kind: 'attach', attach: {fs_type: 'squashfs', attach: {kind: 'loopback', loopback: {path: '/img/a.sqfs'}}}}]}};
const {value} = await service.createContainer({name: 'survivor', command: '/sbin/init', mount, state: 'running'});
console.log(JSON.stringify({pid: value.pid, spawner: spawnerPid()}));
