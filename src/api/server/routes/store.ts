/**
 * `GET /api/v1/store/backup`: every cfg node as one checksummed snapshot record taken at one sequence
 * number (docs/store.md). It holds the nodes' secrets as stored (BMC passwords, join secrets); like every
 * route it needs the bearer token on TCP (loopback included) or the local socket's file permissions.
 */
import type {FastifyInstance} from 'fastify';
import type {ApiDaemon} from '../daemon-port.js';

export function registerStoreRoutes(app: FastifyInstance, daemon: ApiDaemon): void {
  app.get('/store/backup', async (_req, reply) => {
    const snapshot = daemon.store.backup(daemon.selfId);
    return reply.type('application/x-ndjson').header('x-layercake-seq', String(daemon.store.sequence)).send(snapshot);
  });
}
