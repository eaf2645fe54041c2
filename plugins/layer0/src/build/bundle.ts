/**
 * The agent Layer0 carries: src/agent/main.ts (the two commands a node runs) bundled by esbuild into one
 * ES module with only the code those commands reach, about 1.8 MB instead of the CLI's 110 MB of production
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
      // Only imports that can lead there (one JS callback per import of the whole tree would double the time).
      b.onResolve({filter: /\/cli\/[^/]+\.js$/}, async (args) => {
        if (args.pluginData === 'resolving' || args.kind === 'entry-point') return undefined;
        const r = await b.resolve(args.path, {kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'resolving'});
        if (r.errors.length || r.external || !r.path) return undefined; // esbuild's own handling (optional requires in try blocks)
        return {path: r.path, sideEffects: CLI_ONLY.test(r.path) && !r.path.includes('/node_modules/') ? false : undefined};
      });
    },
  };
}

/**
 * The bundle's entry: the agent's commands with the given `layercake:modules` hook files (absolute
 * paths; the head's plugins' hooks, in a stable order), whose modules the agent plans with.
 */
export function agentEntry(hooks: readonly string[], main = AGENT_ENTRY): string {
  const imports = hooks.map((h, i) => `import * as hook${i} from ${JSON.stringify(h)};`);
  return [`import {runAgent} from ${JSON.stringify(main)};`, ...imports, `runAgent(process.argv.slice(2), [${hooks.map((_, i) => `hook${i}`).join(', ')}]);`, ''].join('\n');
}

/** Bundles the agent; returns its source (deterministic for the same sources and hooks). */
export async function bundleAgent(hooks: readonly string[] = []): Promise<Buffer> {
  const result = await build({
    stdin: {contents: agentEntry(hooks), resolveDir: dirname(AGENT_ENTRY), sourcefile: 'agent-entry.js', loader: 'js'},
    bundle: true, platform: 'node', format: 'esm', target: 'node20', write: false,
    outfile: 'agent.mjs', minify: true, legalComments: 'none', logLevel: 'silent', plugins: [sideEffectFree()],
    // CommonJS dependencies bundled into an ES module still call require() for Node's own modules.
    banner: {js: 'import {createRequire as __lcRequire} from "node:module"; const require = __lcRequire(import.meta.url);'},
  });
  const file = result.outputFiles.find((f) => f.path.endsWith('agent.mjs'));
  if (!file) throw new Error('esbuild produced no agent bundle');
  return Buffer.from(file.contents);
}
