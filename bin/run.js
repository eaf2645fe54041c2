#!/usr/bin/env node
// The `layercake` entry point: boots oclif on the compiled commands in dist/ (build with `npm run build`).
// On import, oclif checks Node against its own engines (>= 18) and loads all of semver to do it: 0.03 s of
// CPU at every start. Ours (package.json, >= 20.17) are stricter and npm checks them at install, so that
// check is skipped (OCLIF_DISABLE_ENGINE_WARNING, an oclif setting), hence the import after it.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
const {execute} = await import('@oclif/core');

await execute({dir: import.meta.url});
