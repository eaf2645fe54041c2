/**
 * The `imageset` module: drives a node's Layer1 images to their cfg through the node's ImageAPI service.
 * It runs on the node itself (SELF context): in the node's own daemon (the child agent once parent/child
 * sync is there; the single daemon, managing its own node, before that).
 *
 * States and mutations are the original's (reference §4, §5): UNKNOWN→IDLE once the node is SYNC and on,
 * IDLE→ACTIVE, ACTIVE→IDLE, UPDATE→ACTIVE/IDLE (a roll), ERROR→ACTIVE/IDLE (bounded retries with backoff,
 * then FATAL with the reason), SYNC→INIT only from IDLE. Everything that changes images is blocked while
 * the node is BUSY.
 */
import {defineModule, durationSchema as duration, z, type ModuleContext} from '@layercake/sdk';
import {IMAGES_URL, NodeImageSet, STATE_URL, type ImagesetConfig} from './driver.js';
import {imagesetExtension} from './extension.js';

export const imagesetConfig = z.object({
  url: z.string().url().default('http://127.0.0.1:8080').describe('the node\'s ImageAPI service'),
  apiBase: z.string().startsWith('/').default('/imageapi/v1'),
  pollInterval: duration(1000).describe('how often the containers are checked when the service reports no change'),
  maxRetries: z.number().int().min(0).default(3).describe('attempts to revive a failed image before it is FATAL'),
  backoff: duration(5000).describe('the wait before the first retry; doubled for each further one'),
  stableAfter: duration(30_000).describe('how long an image must run before its retry count is forgotten'),
  requestTimeout: duration(60_000),
}).strict();

const SET = STATE_URL;
const FAIL_ERROR = {url: SET, value: 'ERROR'};
const FAIL_FATAL = {url: SET, value: 'FATAL'};
const SYNCED = {'/runState': 'SYNC'};
const NOT_BUSY = {'/busy': 'BUSY'};
const step = (from: string, to: string) => ({[SET]: [from, to] as [string, string]});

export const imagesetModule = defineModule({
  name: 'imageset',
  description: 'Runs the node\'s Layer1 images as containers through its ImageAPI service, and rolls them when their cfg changes',
  extensions: [imagesetExtension],
  config: imagesetConfig,
  mutations: [
    {name: 'UKtoIDLE', description: 'learn which images run', mutates: step('UNKNOWN', 'IDLE'), requires: {...SYNCED, '/physState': 'POWER_ON'}, context: 'SELF', timeout: '10s', failTo: FAIL_FATAL},
    {name: 'IDLEtoACTIVE', description: 'start the images', mutates: step('IDLE', 'ACTIVE'), requires: SYNCED, excludes: NOT_BUSY, context: 'SELF', timeout: '1m', failTo: FAIL_ERROR},
    {name: 'ACTIVEtoIDLE', description: 'stop the images', mutates: step('ACTIVE', 'IDLE'), requires: SYNCED, excludes: NOT_BUSY, context: 'SELF', timeout: '1m', failTo: FAIL_ERROR},
    {name: 'UPDATEtoACTIVE', description: 'roll changed images: stop the old container, start the new', mutates: step('UPDATE', 'ACTIVE'), requires: SYNCED, excludes: NOT_BUSY, context: 'SELF', timeout: '1m', failTo: FAIL_ERROR},
    {name: 'UPDATEtoIDLE', description: 'stop the images (a roll while the goal is IDLE)', mutates: step('UPDATE', 'IDLE'), requires: SYNCED, excludes: NOT_BUSY, context: 'SELF', timeout: '1m', failTo: FAIL_ERROR},
    {name: 'ERRORtoACTIVE', description: 'retry failed images with backoff; FATAL past maxRetries', mutates: step('ERROR', 'ACTIVE'), requires: SYNCED, excludes: NOT_BUSY, context: 'SELF', timeout: '1m', failTo: FAIL_FATAL},
    {name: 'ERRORtoIDLE', description: 'stop the images after a failure', mutates: step('ERROR', 'IDLE'), requires: SYNCED, excludes: NOT_BUSY, context: 'SELF', timeout: '1m', failTo: FAIL_FATAL},
    {name: 'SYNCtoINIT', description: 'leave SYNC (shutdown) once the images are stopped', mutates: {'/runState': ['SYNC', 'INIT']}, requires: {[SET]: 'IDLE'}, excludes: NOT_BUSY, context: 'SELF', timeout: '10s', failTo: {url: '/runState', value: 'ERROR'}},
  ],
  discoverables: [IMAGES_URL, `${IMAGES_URL}/**`],
  start(ctx: ModuleContext<ImagesetConfig>) {
    const sets = new Map<string, NodeImageSet>();
    const setOf = (nodeId: string) => {
      let s = sets.get(nodeId);
      if (!s) {
        sets.set(nodeId, (s = new NodeImageSet(ctx, nodeId)));
        void s.watch(ctx.signal);
      }
      return s;
    };
    ctx.onMutate((req) => setOf(req.nodeId).handle(req));
    ctx.onInterrupt((req, reason) => ctx.log.info(`imageset: ${req.mutation} on ${req.nodeId} interrupted: ${reason}`));
    const unsubscribe = ctx.subscribe({types: ['STATE_CHANGE'], nodes: [ctx.selfId]}, (event) => {
      if (event.type !== 'STATE_CHANGE' || event.view !== 'cfg') return;
      if (event.url === '' || event.url.startsWith('/extensions/imageset')) setOf(event.nodeId).cfgChanged();
    });
    ctx.signal.addEventListener('abort', unsubscribe, {once: true});
    // Watch the node's ImageAPI only if this node runs images (a head node usually runs none).
    if (ctx.nodes.get(ctx.selfId)?.cfg.extensions.imageset) setOf(ctx.selfId);
  },
});
