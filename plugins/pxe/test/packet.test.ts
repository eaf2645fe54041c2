import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {clientArch, decode, encode, isIpxe, MalformedPacket, MessageType, messageType, Opt, optString} from '../src/dhcp/packet.js';
import {decodeRequest, encodeRequest, Op, toNetascii} from '../src/tftp/packet.js';
import {request} from './support/dhcp-client.js';

test('DHCP encode/decode round trip keeps every field and option', () => {
  const m = request({type: MessageType.DISCOVER, mac: 'AA:bb:cc:00:00:01', xid: 0xdeadbeef, arch: 7, userClass: 'iPXE', vendorClass: 'PXEClient:Arch:00007'});
  const b = encode(m);
  assert.ok(b.length >= 300, 'padded to the BOOTP minimum');
  const d = decode(b);
  assert.is(d.xid, 0xdeadbeef);
  assert.is(d.giaddr, '127.0.0.1');
  assert.is(messageType(d), MessageType.DISCOVER);
  assert.is(d.chaddr.toString('hex'), 'aabbcc000001');
  assert.is(clientArch(d), 'uefi');
  assert.ok(isIpxe(d));
  assert.is(d.options.get(Opt.VENDOR_CLASS)?.toString(), 'PXEClient:Arch:00007');
});

test('long options are split and concatenated (RFC 3396)', () => {
  const m = request({type: MessageType.OFFER, mac: '00:11:22:33:44:55'});
  const long = 'x'.repeat(600);
  m.options.set(Opt.BOOTFILE, optString(long));
  assert.is(decode(encode(m)).options.get(Opt.BOOTFILE)?.toString(), long);
});

test('client architecture and iPXE detection', () => {
  const arch = (n?: number) => clientArch(decode(encode(request({type: 1, mac: '00:11:22:33:44:55', arch: n}))));
  assert.is(arch(undefined), 'bios');
  assert.is(arch(0), 'bios');
  assert.is(arch(9), 'uefi');
  assert.is(arch(11), 'arm64');
  assert.is(arch(16), 'uefi-http');
  // RFC 3004 framing of the user class
  const m = request({type: 1, mac: '00:11:22:33:44:55'});
  m.options.set(Opt.USER_CLASS, Buffer.from([4, ...Buffer.from('iPXE')]));
  assert.ok(isIpxe(decode(encode(m))));
  assert.not.ok(isIpxe(decode(encode(request({type: 1, mac: '00:11:22:33:44:55', userClass: 'gPXE'})))));
});

test('malformed packets are rejected', () => {
  assert.throws(() => decode(Buffer.alloc(100)), (e: unknown) => e instanceof MalformedPacket);
  const b = encode(request({type: 1, mac: '00:11:22:33:44:55'}));
  b.writeUInt32BE(0, 236);
  assert.throws(() => decode(b), /magic cookie/);
  const c = encode(request({type: 1, mac: '00:11:22:33:44:55'}));
  c[2] = 17;
  assert.throws(() => decode(c), /hardware address length/);
  const d = Buffer.concat([encode(request({type: 1, mac: '00:11:22:33:44:55'})).subarray(0, 240), Buffer.from([53, 9, 1])]);
  assert.throws(() => decode(d), /overruns/);
});

test('TFTP request encode/decode, options lower-cased', () => {
  const b = encodeRequest({op: Op.RRQ, filename: 'amd64/vmlinuz', mode: 'octet', options: new Map([['BLKSIZE', '1468'], ['tsize', '0']])});
  const r = decodeRequest(b);
  assert.is(r.filename, 'amd64/vmlinuz');
  assert.is(r.options.get('blksize'), '1468');
  assert.is(r.options.get('tsize'), '0');
  assert.throws(() => decodeRequest(Buffer.from([0, 1, 65, 0, 66])), /malformed/);
  assert.is(toNetascii(Buffer.from('a\nb\rc')).toString('hex'), Buffer.from('a\r\nb\r\0c').toString('hex'));
});

test.run();
