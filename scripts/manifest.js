/**
 * Writes oclif.manifest.json for the root package and every plugin of this repository (plugins/*), the
 * last step of `npm run build`. With a manifest, oclif starts by reading one JSON file per plugin and
 * imports only the command that runs; without one it imports every command of every plugin (and with
 * them ssh2, undici, fastify...) just to learn their names and flags.
 *
 * This is what the `oclif manifest` command does (a Plugin loaded with ignoreManifest, its manifest
 * written beside its package.json), called through @oclif/core's own Plugin class rather than by adding
 * the `oclif` package: that package pins an older @oclif/core and brings the AWS SDK for its pack and
 * upload commands. The build always regenerates every manifest, so a command added since the last build
 * is listed as soon as it is built; a command file that no longer loads fails the build here.
 *
 * Usage: node scripts/manifest.js (npm run build runs it after tsc).
 */
import {readdirSync, writeFileSync, existsSync, readFileSync} from 'node:fs';
import {dirname, join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';
import {Plugin} from '@oclif/core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The root package and each plugins/<name> whose package.json declares oclif commands. */
export function oclifPackages() {
  const plugins = readdirSync(join(root, 'plugins'))
    .map((name) => join(root, 'plugins', name))
    .filter((dir) => existsSync(join(dir, 'package.json')) && JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).oclif?.commands);
  return [root, ...plugins];
}

async function writeManifest(dir) {
  const plugin = new Plugin({root: dir, isRoot: dir === root, ignoreManifest: true, errorOnManifestCreate: true, respectNoCacheDefault: true});
  await plugin.load();
  writeFileSync(join(dir, 'oclif.manifest.json'), `${JSON.stringify(plugin.manifest, null, 2)}\n`);
  return `${plugin.name}: ${Object.keys(plugin.manifest.commands).length} commands`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const written = [];
  for (const dir of oclifPackages()) written.push(await writeManifest(dir));
  console.log(`oclif.manifest.json written (${written.join(', ')})`);
}
