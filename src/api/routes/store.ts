/**
 * `GET /api/v1/store/backup`: every cfg node as one checksummed snapshot record taken at one sequence
 * number (docs/store.md). It holds the nodes' secrets as stored (BMC passwords, join secrets), so unlike
 * other reads it needs the bearer token on every TCP connection, loopback included; a connection on the
 * local Unix socket (no remote address) is trusted by its file permissions.
 */
import type {FastifyInstance} from 'fastify';
import type {ApiDaemon} from '../daemon-port.js';
import {sameToken} from '../server.js';
import type {ApiErrorBody} from '../types.js';

export function registerStoreRoutes(app: FastifyInstance, daemon: ApiDaemon): void {
  app.get('/store/backup', async (req, reply) => {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (req.socket.remoteAddress !== undefined && !(bearer && sameToken(bearer, daemon.token))) {
      return reply.code(401).header('www-authenticate', 'Bearer').send({error: {
        code: 'UNAUTHORIZED',
        message: 'a backup holds the nodes\' secrets: it needs the API token on every TCP connection',
        hint: 'pass --token or set LAYERCAKE_TOKEN; the daemon keeps it in <stateDir>/token',
      }} satisfies ApiErrorBody);
    }
    const snapshot = daemon.store.backup(daemon.selfId);
    return reply.type('application/x-ndjson').header('x-layercake-seq', String(daemon.store.sequence)).send(snapshot);
  });
}
