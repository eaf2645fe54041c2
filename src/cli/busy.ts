/**
 * `layercake busy` and `layercake free` as functions, for the oclif commands and Layer0's agent bundle
 * alike: they talk to the daemon of the machine they run on (on a node: its agent's local socket) and
 * set that daemon's own node BUSY or FREE. The parent sees the change through state sync.
 */
import type {ApiClient} from '../api/client/client.js';
import {busyOf, busyValues, type BusyInfo} from '../model/busy.js';

export interface BusyResult extends BusyInfo {
  id: string;
  nodename: string;
}

/** The busy flag of the daemon's own node. */
export async function busyStatus(client: ApiClient): Promise<BusyResult> {
  const {id} = await client.health();
  const view = await client.getNode(id);
  return {id, nodename: view.cfg.nodename, ...busyOf(view)};
}

/** Marks the daemon's own node BUSY (with a reason and an expiry) or FREE; returns what it reports now. */
export async function setBusy(client: ApiClient, busy: boolean, opts: {reason?: string; forMs?: number} = {}): Promise<BusyResult> {
  const {id} = await client.health();
  await client.discover(id, busyValues(busy, opts));
  return busyStatus(client);
}
