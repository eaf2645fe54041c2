/**
 * The layers of layercake and who may import whom, written down once: `npm run check:layers` (CI runs it
 * before the tests) fails on an import that breaks a rule below, or on any import cycle.
 * docs/architecture.md draws the same map for people.
 *
 * Each layer lists the layers under it that it may import (npm packages and Node's own are always
 * allowed). Everything else in src/ is forbidden to it, its own layer excepted.
 */
const layers = {
  // The ground floor: what a node, an event, an error, a duration and a plugin's module are. Everything
  // builds on these words, so they depend on nothing of ours.
  model: {path: '^src/model/', may: []},
  // The API's wire (its request and answer types, the order nodes are sent in, the local socket's path):
  // the one contract both sides of the API share, so it knows nothing of either side.
  wire: {path: '^src/api/[^/]+$', may: ['model']},
  // The store keeps cfg and dsc and announces every change on its event bus; it knows nothing of who
  // listens (the engine, the sync, the API's event stream).
  store: {path: '^src/store/', may: ['model']},
  // The engine plans and fires mutations from what the store tells it; it hands requests to modules
  // through functions the daemon gives it, so it never sees the module host.
  engine: {path: '^src/engine/', may: ['store', 'model']},
  // State sync talks to parents and children over UDP; it reaches the store and the engine through the
  // narrow interfaces of sync/deps.ts, and reports its status in the wire's shapes.
  sync: {path: '^src/sync/', may: ['wire', 'model']},
  // The core module `busy` (a node's busy flag, and its expiry): a module like a plugin's, on the contract
  // and the busy words of model/ only.
  busy: {path: '^src/busy/', may: ['model']},
  // The HTTP API the daemon serves: routes over the store, the engine and the sync (api/server/daemon-port.ts).
  server: {path: '^src/api/server/', may: ['engine', 'sync', 'store', 'wire', 'model']},
  // The composition root: builds the store, engine, module host, sync and API server of one daemon.
  daemon: {path: '^src/daemon/', may: ['server', 'engine', 'sync', 'store', 'wire', 'model']},
  // The typed API client: it speaks the wire only, so the CLI never loads the daemon's code.
  client: {path: '^src/api/client/', may: ['wire', 'model']},
  // What commands share (base class, output, targets, progress): a client of the API, never the daemon.
  cli: {path: '^src/cli/', may: ['client', 'wire', 'model']},
  // oclif's entry points: commands talk to a daemon through the client, and the few local ones (daemon,
  // store check|restore) start or read a daemon's parts; the hooks contribute the core's own modules.
  commands: {path: '^src/(commands|hooks)/', may: ['cli', 'client', 'daemon', 'sync', 'busy', 'wire', 'model']},
  // @layercake/sdk sits on top: it re-exports what plugins may use, so no core file may import it
  // (it would close a circle through everything it re-exports).
  sdk: {path: '^src/sdk/', may: ['model', 'wire', 'client', 'cli', 'daemon', 'sync', 'busy']},
};

const layerRules = Object.entries(layers).map(([name, layer]) => ({
  name: `layer-${name}`,
  comment: `src/ layer "${name}" may import only ${layer.may.length ? layer.may.join(', ') : 'npm packages and Node\'s own modules'} (see the layer's comment in .dependency-cruiser.cjs, and docs/architecture.md)`,
  severity: 'error',
  from: {path: layer.path},
  to: {path: '^src/', pathNot: [layer.path, ...layer.may.map((lower) => layers[lower].path)]},
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      // A plugin may be installed alone and built against the sdk only: what it takes from the core comes
      // through the sdk's three entry points, which stay stable while the core's files move.
      name: 'plugins-use-the-sdk',
      comment: 'a plugin imports the core only through @layercake/sdk, @layercake/sdk/cli or @layercake/sdk/embed',
      severity: 'error',
      from: {path: '^plugins/[^/]+/src/'},
      to: {path: '^src/', pathNot: '^src/sdk/(index|cli|embed)\\.ts$'},
    },
    {
      // Plugins depend on each other through their packages (their package.json names them), never by
      // reaching into another plugin's files.
      name: 'plugins-use-each-other-as-packages',
      comment: 'a plugin reaches another plugin through its package (@layercake/plugin-<name>), not a relative path',
      severity: 'error',
      from: {path: '^plugins/([^/]+)/src/'},
      to: {path: '^plugins/', pathNot: '^plugins/$1/'},
    },
    {
      // A circle makes every file in it depend on every other: no layer could be understood, tested or
      // loaded alone (the sdk's re-exports once tied 45 files into one).
      name: 'no-circular',
      comment: 'no import cycles in src/ and plugins/*/src/',
      severity: 'error',
      from: {},
      to: {circular: true},
    },
  ],
  options: {
    includeOnly: '^(src|plugins/[^/]+/src)/',
    exclude: {path: '(^|/)(dist|node_modules)/'},
    // Type-only imports count: a layer that names a higher layer's types depends on it all the same.
    tsPreCompilationDeps: true,
    tsConfig: {fileName: 'tsconfig.base.json'},
    enhancedResolveOptions: {
      // @layercake/sdk's package.json maps each entry point to its TypeScript source under the condition
      // "source" (Node and tsc skip it and load the built files): the rules then see plugin -> sdk -> core.
      conditionNames: ['source', 'import', 'node', 'default'],
      exportsFields: ['exports'],
      extensions: ['.ts', '.js', '.d.ts'],
    },
  },
};
