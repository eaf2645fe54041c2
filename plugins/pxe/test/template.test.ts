import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {chooseBoot, templateVars} from '../src/boot.js';
import {bootNodeOf} from '../src/bootnode.js';
import {pxeConfig} from '../src/config.js';
import {FileError, resolveFile} from '../src/files.js';
import {render, TemplateError, variablesOf} from '../src/template.js';
import {testNode} from './support/context.js';

const root = mkdtempSync(join(tmpdir(), 'lc-pxe-tpl-'));
test.after(() => rmSync(root, {recursive: true, force: true}));

const node = bootNodeOf(testNode({id: '11111111-2222-4333-8444-555555555555', nodename: 'n01', mac: 'AA:BB:CC:00:00:01', ip: '10.1.0.11', prefix: 16}));
const server = {serverIp: '10.1.0.1', httpPort: 8069, httpEnabled: true, parentUrl: ''};
const vars = templateVars(node, server);

test('render substitutes variables without escaping', () => {
  assert.is(render('a={{.IP}}/{{ .CIDR }} <&"> {{.Nodename}}', {IP: '1.2.3.4', CIDR: '8', Nodename: 'x&y'}), 'a=1.2.3.4/8 <&"> x&y');
  assert.equal(variablesOf('{{.A}} {{.B}} {{.A}}'), ['A', 'B']);
});

test('unknown variables and other expressions are errors with the line', () => {
  assert.throws(() => render('ok\n{{.Nope}}', {IP: '1'}, 'default.tpl'), (e: unknown) => e instanceof TemplateError && /default.tpl:2: unknown variable .Nope/.test((e as Error).message));
  assert.throws(() => render('{{if .IP}}', {IP: '1'}), /unsupported template expression/);
});

test('template variables: the original set plus JoinSecret, ParentURL', () => {
  assert.is(vars.Iface, 'eth0');
  assert.is(vars.IP, '10.1.0.11');
  assert.is(vars.CIDR, '16');
  assert.is(vars.Netmask, '255.255.0.0');
  assert.is(vars.ID, '11111111-2222-4333-8444-555555555555');
  assert.is(vars.ParentIP, '10.1.0.1');
  assert.is(vars.ParentURL, 'http://10.1.0.1:3141');
  assert.is(vars.Nodename, 'n01');
  assert.is(vars.MAC, 'aa:bb:cc:00:00:01');
  assert.is(vars.JoinSecret, '');
  const withSecret = testNode({id: node.id, nodename: 'n01', mac: node.ipv4.mac, ip: node.ipv4.ip});
  withSecret.extensions.sync = {joinSecret: 's3cr3t'};
  assert.is(templateVars(bootNodeOf(withSecret), server).JoinSecret, 's3cr3t');
});

test('bootNodeOf names what is missing', () => {
  const bad = testNode({id: node.id, nodename: 'n02', mac: 'zz', ip: '10.1.0.12'});
  assert.throws(() => bootNodeOf(bad), /n02: \/extensions\/ipv4\/mac: expected a MAC/);
  const none = testNode({id: node.id, nodename: 'n03', mac: 'aa:bb:cc:00:00:03', ip: '1.1.1.1'});
  delete none.extensions.ipv4;
  assert.throws(() => bootNodeOf(none), /n03 has no ipv4 extension/);
});

test('boot file choice: firmware by architecture, iPXE gets its script, HTTP boot gets a URL', () => {
  const c = pxeConfig({});
  assert.is(chooseBoot(node, {arch: 'bios', ipxe: false, vendorClass: 'PXEClient:Arch:00000'}, c, server).file, 'undionly.kpxe');
  assert.is(chooseBoot(node, {arch: 'uefi', ipxe: false, vendorClass: 'PXEClient:Arch:00007'}, c, server).file, 'ipxe.efi');
  assert.is(chooseBoot(node, {arch: 'arm64', ipxe: false, vendorClass: ''}, c, server).file, 'ipxe-arm64.efi');
  const ipxe = chooseBoot(node, {arch: 'bios', ipxe: true, vendorClass: 'PXEClient'}, c, server);
  assert.is(ipxe.file, 'http://10.1.0.1:8069/boot.ipxe');
  assert.is(ipxe.vendorClass, 'PXEClient');
  const h = chooseBoot(node, {arch: 'uefi-http', ipxe: false, vendorClass: 'HTTPClient:Arch:00016'}, c, server);
  assert.is(h.file, 'http://10.1.0.1:8069/ipxe.efi');
  assert.is(h.vendorClass, 'HTTPClient');
  const pxeNode = {...node, pxe: {...node.pxe, method: 'pxe' as const}};
  assert.is(chooseBoot(pxeNode, {arch: 'bios', ipxe: true, vendorClass: ''}, c, server).file, 'pxelinux.0');
  const override = {...node, pxe: {...node.pxe, bootfile: 'custom.efi'}};
  assert.is(chooseBoot(override, {arch: 'uefi', ipxe: false, vendorClass: ''}, c, server).file, 'custom.efi');
  assert.is(chooseBoot(node, {arch: 'bios', ipxe: true, vendorClass: ''}, c, {...server, httpEnabled: false}).file, 'boot.ipxe');
});

test('files: per arch/platform first, then shared; .tpl rendered per node', async () => {
  mkdirSync(join(root, 'amd64', 'sim', 'pxelinux.cfg'), {recursive: true});
  writeFileSync(join(root, 'amd64', 'sim', 'pxelinux.cfg', 'default.tpl'), 'APPEND layercake.id={{.ID}} layercake.parent={{.ParentIP}}\n');
  writeFileSync(join(root, 'undionly.kpxe'), 'shared');
  writeFileSync(join(root, 'amd64', 'sim', 'undionly.kpxe'), 'specific');
  const opts = {root, node, vars};
  const r = await resolveFile('pxelinux.cfg/default', opts);
  assert.is(r.kind, 'rendered');
  assert.is(r.kind === 'rendered' && r.data.toString(), `APPEND layercake.id=${node.id} layercake.parent=10.1.0.1\n`);
  const s = await resolveFile('undionly.kpxe', opts);
  assert.ok(s.kind === 'static' && s.path.endsWith(join('amd64', 'sim', 'undionly.kpxe')));
  const other = await resolveFile('undionly.kpxe', {...opts, node: {...node, arch: 'arm64'}});
  assert.ok(other.kind === 'static' && other.path === join(root, 'undionly.kpxe'));
});

test('files: traversal, absolute paths and symlinks out of the root are refused', async () => {
  const outside = mkdtempSync(join(tmpdir(), 'lc-pxe-out-'));
  try {
    writeFileSync(join(outside, 'secret'), 'no');
    symlinkSync(join(outside, 'secret'), join(root, 'link'));
    symlinkSync(join(root, 'undionly.kpxe'), join(root, 'inside-link'));
    const opts = {root, node, vars};
    for (const name of ['../etc/passwd', 'amd64/../../x', '/etc/passwd', '..\\..\\x', 'link', 'C:\\x']) {
      try { await resolveFile(name, opts); assert.unreachable(`served ${name}`); } catch (e) {
        assert.ok(e instanceof FileError && e.code === 'EACCES', `${name}: ${(e as Error).message}`);
      }
    }
    const ok = await resolveFile('inside-link', opts);
    assert.is(ok.kind, 'static', 'a symlink that stays inside the root is served');
    try { await resolveFile('missing', opts); assert.unreachable(); } catch (e) { assert.ok(e instanceof FileError && e.code === 'ENOENT'); }
  } finally {
    rmSync(outside, {recursive: true, force: true});
  }
});

test('shipped templates carry the kernel command line contract and use only known variables', async () => {
  const {readFileSync} = await import('node:fs');
  const dir = new URL('../templates/', import.meta.url).pathname;
  const secretNode = testNode({id: node.id, nodename: 'n01', mac: node.ipv4.mac, ip: node.ipv4.ip, prefix: 16, gateway: '10.1.0.254'});
  secretNode.extensions.sync = {joinSecret: 'ab'.repeat(32)};
  const v = templateVars(bootNodeOf(secretNode), server);
  for (const f of ['boot.ipxe.tpl', 'pxelinux.cfg/default.tpl']) {
    const out = render(readFileSync(join(dir, f), 'utf8'), v, f);
    for (const want of [`layercake.id=${node.id}`, 'layercake.parent=10.1.0.1', 'layercake.ip=10.1.0.11', 'layercake.net=16',
      'layercake.iface=eth0', 'layercake.name=n01', 'layercake.url=http://10.1.0.1:3141', `layercake.secret=${'ab'.repeat(32)}`,
      'ip=10.1.0.11::10.1.0.254:255.255.0.0:n01:eth0:off']) {
      assert.ok(out.includes(want), `${f} has ${want}`);
    }
  }
});

test.run();
