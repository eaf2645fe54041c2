/**
 * The RMCP+ building blocks against a recorded exchange: `ipmitool -I lanplus -C 3 -vvv` with
 * ipmi_sim (user admin, password secret) printed its randoms, session ids, GUID, the RAKP codes, the
 * derived keys and one signed packet; our functions must compute exactly the same bytes.
 */
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {checksum, decodeResponse, encodeRequest} from '../src/ipmi/message.js';
import {authCode, decodeDatagram, decryptPayload, encodeV15, encodeV20, encryptPayload} from '../src/ipmi/packet.js';
import {
  additionalKeys, decodeOpenSessionResponse, encodeOpenSessionRequest, encodeRakp1, rakp2Code, rakp3Code, rakp4Check,
  sessionIntegrityKey, userKey, verifyRakp2, verifyRakp4, type Handshake,
} from '../src/ipmi/rakp.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// From the ipmitool -vvv trace.
const recorded: Handshake = {
  consoleSessionId: 0xa0a2a3a4,
  bmcSessionId: 0x00000202,
  consoleRandom: hex('9d 05 f1 3b 62 7e 78 5f d6 a9 28 0e db 39 50 56'),
  bmcRandom: hex('c8 76 70 06 e9 38 da 7c 19 bd 32 d3 51 f2 b7 f6'),
  bmcGuid: hex('a1 23 45 67 89 ab cd ef a1 23 45 67 89 ab cd ef'),
  user: {role: 0x14, username: Buffer.from('admin')},
  kuid: userKey('secret'),
};
const RAKP2 = hex('7e d5 af 40 4c e1 09 37 a1 6b a7 51 58 b9 c9 b9 22 32 91 42');
const RAKP3 = hex('6d 20 ed c1 52 32 03 5b ba c3 4a f8 29 7b 30 14 35 18 42 9f');
const SIK = hex('74 64 26 a8 a0 3b 5c 97 47 34 f9 68 4a 1f 40 68 e4 a8 5f c1');
const K1 = hex('c4 ab db 43 53 94 10 70 e1 88 a6 6e a0 40 89 61 7f 0f 36 16');
const K2 = hex('4f a1 44 58 4d 09 cf 00 d3 e8 b9 6f 8d 0a b8 5f 49 3a b6 2f');
const RAKP4 = hex('e1 62 b5 15 80 6f 51 a0 9c d4 cf 38');
// The first packet of the session (Set Session Privilege Level, encrypted and signed): bytes from the
// authentication type to the next header, and the authentication code ipmitool computed over them.
const SIGNED = hex(`06 c0 02 02 00 00 03 00 00 00 20 00 88 7b df 35
  a0 73 bc 6e e6 b6 cf 14 44 c5 55 cd 88 20 27 de 5d 95 48 fe 29 56 15 4f 85 1f 46 65 ff ff 02 07`);
const AUTHCODE = hex('fd 4b 6b 64 2a 28 14 4d 40 85 19 d3');

test('RAKP-HMAC-SHA1 codes and keys match the recorded exchange', () => {
  assert.equal(rakp2Code(recorded).toString('hex'), RAKP2.toString('hex'));
  assert.ok(verifyRakp2(recorded, RAKP2));
  assert.not.ok(verifyRakp2({...recorded, kuid: userKey('wrong')}, RAKP2), 'a wrong password does not verify');
  assert.equal(rakp3Code(recorded).toString('hex'), RAKP3.toString('hex'));
  const sik = sessionIntegrityKey(recorded);
  assert.equal(sik.toString('hex'), SIK.toString('hex'));
  const {k1, k2} = additionalKeys(sik);
  assert.equal(k1.toString('hex'), K1.toString('hex'));
  assert.equal(k2.toString('hex'), K2.toString('hex'));
  assert.equal(rakp4Check(recorded, sik).toString('hex'), RAKP4.toString('hex'));
  assert.ok(verifyRakp4(recorded, sik, RAKP4));
});

test('the recorded packet: integrity code, decryption, and re-encoding byte for byte', () => {
  assert.equal(authCode(K1, SIGNED).toString('hex'), AUTHCODE.toString('hex'));
  const payload = SIGNED.subarray(12, 12 + 32);
  const plain = decryptPayload(K2.subarray(0, 16), payload)!;
  const msg = decodeRequestForTest(plain);
  assert.equal(msg, {netFn: 0x06, cmd: 0x3b, data: [0x04]}, 'Set Session Privilege Level (ADMINISTRATOR)');
  // Encoding the same message with the same IV gives ipmitool's datagram exactly.
  const datagram = encodeV20({payloadType: 0, sessionId: 0x202, sequence: 3, payload: plain},
    {integrity: K1, confidentiality: K2.subarray(0, 16)}, payload.subarray(0, 16));
  assert.equal(datagram.subarray(4).toString('hex'), Buffer.concat([SIGNED, AUTHCODE]).toString('hex'));
});

function decodeRequestForTest(m: Buffer): {netFn: number; cmd: number; data: number[]} {
  assert.is(checksum(m.subarray(0, 2)), m[2]);
  assert.is(checksum(m.subarray(3, m.length - 1)), m[m.length - 1]);
  return {netFn: m[1] >> 2, cmd: m[5], data: [...m.subarray(6, m.length - 1)]};
}

test('IPMI messages: checksums and response parsing', () => {
  const req = encodeRequest({netFn: 0x00, cmd: 0x01, rqSeq: 5, data: Buffer.alloc(0)});
  assert.equal([...req], [0x20, 0x00, 0xe0, 0x81, 0x14, 0x01, 0x6a]);
  // A response to it: rqAddr, netFn+1, cs, rsAddr, rqSeq, cmd, cc, data, cs.
  const body = Buffer.from([0x20, 0x14, 0x01, 0x00, 0x01, 0x00, 0x00]);
  const head = Buffer.from([0x81, 0x04]);
  const resp = Buffer.concat([head, Buffer.from([checksum(head)]), body, Buffer.from([checksum(body)])]);
  assert.equal(decodeResponse(resp), {netFn: 0x01, rqSeq: 5, cmd: 0x01, completionCode: 0, data: Buffer.from([0x01, 0x00, 0x00])});
  const bad = Buffer.from(resp);
  bad[bad.length - 1] ^= 1;
  assert.is(decodeResponse(bad), undefined, 'a bad checksum is not a response');
});

test('datagrams: v1.5 and v2.0 framing round trip; tampering is detected', () => {
  const msg = encodeRequest({netFn: 0x06, cmd: 0x38, rqSeq: 1, data: Buffer.from([0x8e, 0x04])});
  const v15 = decodeDatagram(encodeV15(msg));
  assert.equal(v15, {version: '1.5', sequence: 0, sessionId: 0, message: msg});
  const keys = {integrity: K1, confidentiality: K2.subarray(0, 16)};
  for (const len of [0, 1, 7, 15, 16, 17, 40]) {
    const payload = Buffer.alloc(len, 0xab);
    const d = decodeDatagram(encodeV20({payloadType: 0, sessionId: 7, sequence: 9, payload}, keys), keys);
    assert.ok(d && d.version === '2.0' && d.encrypted && d.authenticated);
    assert.equal(d.version === '2.0' && [...d.payload], [...payload], `payload of ${len} bytes`);
    // RMCP header (4) + signed part (padded to a multiple of 4) + authentication code (12).
    assert.is(encodeV20({payloadType: 0, sessionId: 7, sequence: 9, payload}, keys).length % 4, 0, 'signed packets are padded to 4 bytes');
  }
  const packet = encodeV20({payloadType: 0, sessionId: 7, sequence: 9, payload: Buffer.from('hello')}, keys);
  packet[20] ^= 0x01;
  assert.throws(() => decodeDatagram(packet, keys), /integrity check failed/);
  assert.is(decodeDatagram(Buffer.from('not ipmi at all')), undefined);
  assert.equal([...decryptPayload(K2.subarray(0, 16), encryptPayload(K2.subarray(0, 16), Buffer.from([1, 2, 3])))!], [1, 2, 3]);
});

test('Open Session Request proposes the cipher suite; the response is parsed', () => {
  const req = encodeOpenSessionRequest(7, 4, 0xa0a2a3a4, 3);
  assert.is(req.length, 32);
  assert.equal([req[0], req[1], req.readUInt32LE(4)], [7, 4, 0xa0a2a3a4]);
  assert.equal([req[8], req[11], req[12], req[16], req[19], req[20], req[24], req[27], req[28]], [0, 8, 1, 1, 8, 1, 2, 8, 1]);
  const resp = Buffer.alloc(36);
  resp[0] = 7; resp[2] = 4; resp.writeUInt32LE(0xa0a2a3a4, 4); resp.writeUInt32LE(0x202, 8);
  resp[16] = 1; resp[24] = 1; resp[32] = 1;
  assert.equal(decodeOpenSessionResponse(resp), {tag: 7, status: 0, privilege: 4, consoleSessionId: 0xa0a2a3a4, bmcSessionId: 0x202, auth: 1, integrity: 1, confidentiality: 1});
  const r1 = encodeRakp1(3, 0x202, recorded.consoleRandom, recorded.user);
  assert.equal([r1[0], r1.readUInt32LE(4), r1[24], r1[27], r1.subarray(28).toString()], [3, 0x202, 0x14, 5, 'admin']);
});

test.run();
