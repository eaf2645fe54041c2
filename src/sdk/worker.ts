/**
 * Starts a worker thread from a module next to the caller: `startWorker(new URL('./x.js', import.meta.url))`.
 * Built code runs the .js; tests and benchmarks run the sources through tsx, which does not register itself
 * in worker threads on Node 20, so the worker registers it before importing the .ts.
 */
import {existsSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import {Worker, type WorkerOptions} from 'node:worker_threads';

export function startWorker(entry: URL, options: WorkerOptions = {}): Worker {
  if (existsSync(fileURLToPath(entry))) return new Worker(entry, options);
  const source = new URL(entry.href.replace(/\.js$/, '.ts'));
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  return new Worker(`import(${tsx}).then((t) => { t.register(); return import(${JSON.stringify(source.href)}); })`, {...options, eval: true});
}
