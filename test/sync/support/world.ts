/**
 * A TEST FIXTURE module standing in for the world around the sync protocol (the real power and pxe
 * plugins are not what these tests are about): on the parent it "powers on" and "boots" its children at
 * once (PhysState POWER_ON, RunState INIT, as pxe's DHCP ACK would), so that they are expected to phone
 * home; on the node itself it has a SELF mutation (like imageset's, requiring RunState SYNC) and mirrors
 * cfg probe.echo into dsc probe.echo, so that a child's own discoveries can be followed up to the parent.
 */
import {z} from 'zod';
import type {ModuleSpec} from '../../../src/model/contract.js';

export const worldModule: ModuleSpec = {
  name: 'world',
  description: 'test fixture: instant power and boot of children; a SELF probe on the node',
  extensions: [{
    name: 'probe',
    schema: z.object({
      state: z.enum(['UNKNOWN', 'READY']).default('UNKNOWN'),
      echo: z.string().default(''),
      blob: z.string().default(''),
    }),
  }],
  mutations: [
    {name: 'powerOn', mutates: {physState: ['PHYS_UNKNOWN', 'POWER_ON']}, context: 'CHILD', timeout: '5s'},
    {name: 'boot', mutates: {runState: ['UNKNOWN', 'INIT']}, requires: {physState: 'POWER_ON'}, context: 'CHILD', timeout: '5s'},
    {name: 'probe', mutates: {'probe.state': ['UNKNOWN', 'READY']}, requires: {runState: 'SYNC'}, context: 'SELF', timeout: '5s'},
    // Like imageapi's SYNCtoINIT: the node leaves SYNC by itself (so RunState is shared, not the parent's alone).
    {name: 'leave', mutates: {runState: ['SYNC', 'INIT']}, context: 'SELF', timeout: '5s'},
  ],
  discoverables: ['probe.echo', 'probe.blob'],
  start(ctx) {
    ctx.onMutate((req) => {
      setImmediate(() => {
        for (const [url, [, to]] of Object.entries(req.mutates)) if (ctx.nodes.get(req.nodeId)) ctx.discover(req.nodeId, url, to);
      });
    });
    const mirror = () => {
      const v = ctx.nodes.get(ctx.selfId);
      if (!v) return;
      const cfg = (v.cfg.extensions.probe ?? {}) as {echo?: string; blob?: string};
      const dsc = (v.dsc.extensions.probe ?? {}) as {echo?: string; blob?: string};
      if ((cfg.echo ?? '') !== (dsc.echo ?? '')) ctx.discover(ctx.selfId, 'probe.echo', cfg.echo ?? '');
      if ((cfg.blob ?? '') !== (dsc.blob ?? '')) ctx.discover(ctx.selfId, 'probe.blob', cfg.blob ?? '');
    };
    ctx.subscribe({types: ['STATE_CHANGE'], nodes: [ctx.selfId]}, (e) => {
      if (e.type === 'STATE_CHANGE' && e.view === 'cfg') setImmediate(mirror);
    });
    setImmediate(mirror);
  },
};
