#!/usr/bin/env node
// Development entry point: runs the core's TypeScript sources through tsx, no build step
// (`bin/dev.js node list`). The core's commands and hooks are read from src/ instead of dist/; bundled
// plugins still run from their own dist/ (build them with `npm run build`).
import {readFileSync} from 'node:fs';
import {register} from 'tsx/esm/api';
import {execute} from '@oclif/core';

register();
const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const toSrc = (path) => path.replace(/^\.\/dist\//, './src/').replace(/\.js$/, '.ts');
pjson.oclif.commands = toSrc(pjson.oclif.commands);
pjson.oclif.hooks = Object.fromEntries(Object.entries(pjson.oclif.hooks ?? {}).map(([name, path]) => [name, toSrc(path)]));
await execute({dir: import.meta.url, loadOptions: {root: new URL('..', import.meta.url).pathname, pjson}});
