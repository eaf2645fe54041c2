/**
 * The agent Layer0 carries: src/agent/main.ts (the two commands a node runs) bundled by esbuild into one
 * ES module with only the code those commands reach, about 1.6 MB instead of the CLI's 200 MB of
 * node_modules. The SDK also re-exports the CLI's helpers (oclif command classes, prompts, progress,
 * cosmiconfig and through it typescript), which the agent never calls; the core's dist/cli/ modules have
 * no import-time side effects, so they are marked side-effect free and esbuild leaves them out. (Marking
 * every module of ours so breaks esbuild's lazy initialisation of zod, re-exported by the SDK.)
 */
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {build, type Plugin} from 'esbuild';

/** The compiled entry point (dist/agent/main.js, next to this file's directory). */
export const AGENT_ENTRY = join(dirname(fileURLToPath(import.meta.url)), '..', 'agent', 'main.js');

/** The core's CLI helpers (dist/cli/): imported by the SDK, never run by the agent. */
const CLI_ONLY = /\/dist\/cli\/[^/]+\.js$/;

function sideEffectFree(): Plugin {
  return {
    name: 'layercake-side-effect-free',
    setup(b) {
      b.onResolve({filter: /.*/}, async (args) => {
        if (args.pluginData === 'resolving' || args.kind === 'entry-point') return undefined;
        const r = await b.resolve(args.path, {kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'resolving'});
        if (r.errors.length || r.external || !r.path) return undefined; // esbuild's own handling (optional requires in try blocks)
        return {path: r.path, sideEffects: CLI_ONLY.test(r.path) && !r.path.includes('/node_modules/') ? false : undefined};
      });
    },
  };
}

/** Bundles the agent; returns its source (deterministic for the same sources). */
export async function bundleAgent(entry = AGENT_ENTRY): Promise<Buffer> {
  const result = await build({
    entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20', write: false,
    outfile: 'agent.mjs', minify: true, legalComments: 'none', logLevel: 'silent', plugins: [sideEffectFree()],
    // CommonJS dependencies bundled into an ES module still call require() for Node's own modules.
    banner: {js: 'import {createRequire as __lcRequire} from "node:module"; const require = __lcRequire(import.meta.url);'},
  });
  const file = result.outputFiles.find((f) => f.path.endsWith('agent.mjs'));
  if (!file) throw new Error('esbuild produced no agent bundle');
  return Buffer.from(file.contents);
}
