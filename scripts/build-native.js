/**
 * Builds the native addons (plugins/pxe/native: the TFTP sender; plugins/imageapi/native: loop devices and
 * mounts by system call) with node-gyp, which npm puts on the PATH of its scripts. The headers are those installed beside the running Node (no download: only the
 * npm registry is reachable from where layercake is built). Skipped when the addon is newer than its
 * sources. Usage: npm run build (this runs first).
 */
import {execFileSync} from 'node:child_process';
import {existsSync, statSync} from 'node:fs';
import {dirname, join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const addons = [
  {dir: 'plugins/pxe', sources: ['binding.gyp', 'native/tftp_sender.c'], output: 'build/Release/tftp_sender.node'},
  {dir: 'plugins/imageapi', sources: ['binding.gyp', 'native/linux_mounts.c'], output: 'build/Release/linux_mounts.node'},
];

const prefix = resolve(process.execPath, '../..');
const nodedir = existsSync(join(prefix, 'include/node/node_api.h')) ? [`--nodedir=${prefix}`] : [];
const gyp = process.env.npm_config_node_gyp;
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);

for (const a of addons) {
  const cwd = join(root, a.dir);
  const built = mtime(join(cwd, a.output));
  if (built > 0 && a.sources.every((s) => mtime(join(cwd, s)) < built)) continue;
  const [cmd, ...args] = gyp ? [process.execPath, gyp] : ['node-gyp'];
  try {
    execFileSync(cmd, [...args, 'rebuild', ...nodedir], {cwd, stdio: ['ignore', 'ignore', 'pipe']});
  } catch (error) {
    process.stderr.write(String(error.stderr ?? error.message));
    console.error(`\nbuild-native: cannot build ${a.dir}/${a.sources.at(-1)}. node-gyp needs python3, make and a C compiler` +
      ' (Debian: apt install build-essential python3), and the Node headers (Debian\'s nodejs ships them; or set npm_config_nodedir).');
    process.exit(1);
  }
}
