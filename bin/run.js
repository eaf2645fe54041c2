#!/usr/bin/env node
// The `layercake` entry point: boots oclif on the compiled commands in dist/ (build with `npm run build`).
import {execute} from '@oclif/core';

await execute({dir: import.meta.url});
