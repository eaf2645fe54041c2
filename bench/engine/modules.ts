/** An in-process, instant module set shaped like the real one: power, pxe-like boot, sync, image sets (15 mutations). */
import {z} from 'zod';
import type {ModuleSpec, MutationSpec} from '../../src/model/contract.js';

const hang = {url: 'physState', value: 'PHYS_HANG'};
const imageFail = (value: string) => ({url: 'imageset.state', value});

export const benchModules: ModuleSpec[] = [
  {name: 'power', start() {}, mutations: [
    {name: 'UKtoOFF', mutates: {physState: ['PHYS_UNKNOWN', 'POWER_OFF']}, timeout: '10s', failTo: hang},
    {name: 'OFFtoON', mutates: {physState: ['POWER_OFF', 'POWER_ON']}, timeout: '10s', failTo: hang},
    {name: 'ONtoOFF', mutates: {physState: ['POWER_ON', 'POWER_OFF']}, excludes: {runState: 'SYNC', busy: 'BUSY'}, timeout: '10s', failTo: hang},
    {name: 'HANGtoOFF', mutates: {physState: ['PHYS_HANG', 'POWER_OFF']}, timeout: '20s', failTo: hang},
  ]},
  {name: 'boot', start() {}, extensions: [{name: 'pxe', schema: z.object({state: z.enum(['NONE', 'WAIT', 'INIT']).default('NONE')})}], mutations: [
    {name: 'NONEtoWAIT', mutates: {'pxe.state': ['NONE', 'WAIT']}, requires: {physState: 'POWER_ON'}, timeout: '10s', failTo: hang},
    {name: 'WAITtoINIT', mutates: {'pxe.state': ['WAIT', 'INIT'], runState: ['UNKNOWN', 'INIT']}, requires: {physState: 'POWER_ON'}, timeout: '90s', failTo: hang},
  ]},
  {name: 'sync', start() {}, mutations: [
    {name: 'INITtoSYNC', mutates: {runState: ['INIT', 'SYNC']}, requires: {physState: 'POWER_ON'}, timeout: '90s', failTo: hang},
  ]},
  {name: 'images', start() {}, extensions: [{name: 'imageset', schema: z.object({state: z.enum(['UNKNOWN', 'IDLE', 'ACTIVE', 'UPDATE', 'ERROR', 'FATAL']).default('UNKNOWN')})}], mutations: [
    ...([
      ['UKtoIDLE', 'UNKNOWN', 'IDLE', 'FATAL'], ['IDLEtoACTIVE', 'IDLE', 'ACTIVE', 'ERROR'], ['ACTIVEtoIDLE', 'ACTIVE', 'IDLE', 'ERROR'],
      ['UPDATEtoACTIVE', 'UPDATE', 'ACTIVE', 'ERROR'], ['UPDATEtoIDLE', 'UPDATE', 'IDLE', 'ERROR'], ['ERRORtoACTIVE', 'ERROR', 'ACTIVE', 'FATAL'], ['ERRORtoIDLE', 'ERROR', 'IDLE', 'FATAL'],
    ] as const).map(([name, from, to, fail]): MutationSpec => ({
      name, mutates: {'imageset.state': [from, to]}, requires: name === 'UKtoIDLE' ? {runState: 'SYNC', physState: 'POWER_ON'} : {runState: 'SYNC'},
      excludes: name === 'UKtoIDLE' ? {} : {busy: 'BUSY'}, timeout: '1m', failTo: imageFail(fail),
    })),
    {name: 'SYNCtoINIT', mutates: {runState: ['SYNC', 'INIT']}, requires: {'imageset.state': 'IDLE'}, excludes: {busy: 'BUSY'}, timeout: '10s', failTo: {url: 'runState', value: 'ERROR'}},
  ]},
];
