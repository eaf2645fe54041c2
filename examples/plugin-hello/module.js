/**
 * The hello module: nodes get a `hello` extension whose `state` goes from UNKNOWN to GREETED through the
 * `greet` mutation. Setting a node's cfg `hello.state` to GREETED makes the engine plan `greet`; this module
 * "performs" it (it logs the node's greeting) and reports the result with ctx.discover.
 *
 * It is built from the runtime sdk it is handed (`sdk.defineModule`, `sdk.z`), so the plugin needs no
 * dependencies at all.
 */
export function helloModule(sdk) {
  const {defineModule, defineExtension, z} = sdk;
  return defineModule({
    name: 'hello',
    description: 'Greets nodes (an example plugin)',
    extensions: [
      defineExtension({
        name: 'hello',
        description: 'Whether the node has been greeted, and how',
        schema: z.object({
          // The first value of an enum is its zero: "unknown / don't care".
          state: z.enum(['UNKNOWN', 'GREETED']).default('UNKNOWN'),
          greeting: z.string().default('hello'),
        }),
      }),
    ],
    config: z.object({punctuation: z.string().default('!')}),
    mutations: [
      {
        name: 'greet',
        description: 'Say hello to the node',
        mutates: {'hello.state': ['UNKNOWN', 'GREETED']},
        timeout: '10s',
      },
    ],
    start(ctx) {
      ctx.onMutate(async (request) => {
        // Idempotent: greeting twice does no harm.
        const greeting = request.cfg.extensions.hello?.greeting ?? 'hello';
        ctx.log.info({node: request.cfg.nodename}, `${greeting}, ${request.cfg.nodename}${ctx.config.punctuation}`);
        ctx.discover(request.nodeId, 'hello.state', 'GREETED');
      });
    },
  });
}
