#!/usr/bin/env node
// Development entry point: runs the core's TypeScript sources through tsx, no build step
// (`bin/dev.js node list`). The core's commands and hooks are read from src/ instead of dist/, and the
// root's oclif.manifest.json (written by the build, naming dist/ files) is ignored, so a command added
// in src/ shows at once; bundled plugins still run from their own dist/ and manifests (build them with
// `npm run build`).
import {readFileSync} from 'node:fs';
import {register} from 'tsx/esm/api';
import {Config, Plugin, execute} from '@oclif/core';

register();
const root = new URL('..', import.meta.url).pathname;
const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const toSrc = (path) => path.replace(/^\.\/dist\//, './src/').replace(/\.js$/, '.ts');
pjson.oclif.commands = toSrc(pjson.oclif.commands);
pjson.oclif.hooks = Object.fromEntries(Object.entries(pjson.oclif.hooks ?? {}).map(([name, path]) => [name, toSrc(path)]));

// oclif reads the root's manifest whenever one exists; handing it a root plugin loaded without it, then
// loading the bundled plugins beside it (force), is the way its public API leaves to skip it.
const rootPlugin = new Plugin({root, pjson, isRoot: true, ignoreManifest: true});
await rootPlugin.load();
const config = await Config.load({root, pjson, plugins: new Map([[rootPlugin.name, rootPlugin]])});
await config.loadPluginsAndCommands({force: true});
await execute({dir: import.meta.url, loadOptions: config});
