/**
 * bench/sync baseline: the floor of a fan-out on this machine. A process with `procs` UDP sockets that
 * verify each datagram's HMAC-SHA256 and answer with a signed datagram of their own: no state, no store.
 * Started by index.ts; replies {ports} on IPC.
 */
import dgram from 'node:dgram';
import {createHmac, createSecretKey, timingSafeEqual} from 'node:crypto';

const key = createSecretKey(Buffer.alloc(32, 7));
const sockets = await Promise.all(Array.from({length: Number(process.argv[2] ?? 1)}, async () => {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  s.on('message', (m, r) => {
    const mac = createHmac('sha256', key).update(m.subarray(0, m.length - 32)).digest();
    if (!timingSafeEqual(mac, m.subarray(m.length - 32))) return;
    const out = Buffer.allocUnsafe(94);
    m.copy(out, 0, 0, 62);
    createHmac('sha256', key).update(out.subarray(0, 62)).digest().copy(out, 62);
    s.send(out, r.port, r.address);
  });
  return s;
}));
process.send?.({ports: sockets.map((s) => s.address().port)});
process.on('disconnect', () => process.exit(0));
