#!/usr/bin/env node
// Development entry point: runs the TypeScript sources through tsx, no build step (`bin/dev.js node list`).
import {register} from 'tsx/esm/api';
import {execute} from '@oclif/core';

register();
await execute({development: true, dir: import.meta.url});
