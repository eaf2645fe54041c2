/**
 * The native TFTP sender (native/tftp_sender.c, built by `npm run build` with node-gyp): runs one read
 * transfer per thread, from its own socket connected to the client, and settles a promise with the
 * outcome. Why native: see the C file's header.
 */
import {createRequire} from 'node:module';

export interface SendSpec {
  /** Local address of the transfer socket ('' = any). */
  local: string;
  address: string;
  port: number;
  /** The whole file in memory, or an open file descriptor to read it from. */
  data?: Buffer;
  fd?: number;
  size: number;
  blksize: number;
  windowsize: number;
  /** First retransmission timeout (ms), doubled on each retry up to 16×. */
  timeoutMs: number;
  retries: number;
  /** Busy-poll for an ACK this long before sleeping, while cores are idle (0: never). */
  busyPollUs: number;
  /** The encoded OACK (RFC 2347) to send before DATA 1, if any. */
  oack?: Buffer;
}

export interface SendResult {
  ok: boolean;
  error?: string;
  /** The transfer socket could not be opened: nothing was sent to the client. */
  early?: boolean;
  bytes: number;
  ms: number;
  retransmits: number;
}

export interface Sending {
  done: Promise<SendResult>;
  handle: object;
}

interface Binding {
  start(spec: SendSpec): Sending;
  abort(handle: object): void;
}

let binding: Binding | undefined;

function load(): Binding {
  if (binding) return binding;
  try {
    // From src/tftp and dist/tftp alike, the addon is in the plugin's build/Release.
    binding = createRequire(import.meta.url)('../../build/Release/tftp_sender.node') as Binding;
  } catch (e) {
    throw new Error(`the pxe plugin's native TFTP sender is not built (${(e as Error).message.split('\n')[0]}): run npm run build, which needs a C compiler (Debian: apt install build-essential python3)`);
  }
  return binding;
}

/** Starts sending; the promise settles when the transfer has ended, however it ended. */
export function send(spec: SendSpec): Sending {
  return load().start(spec);
}

/** Ends a running transfer ('server stopped', with an ERROR to its client); nothing once it has ended. */
export function abort(s: Sending): void {
  load().abort(s.handle);
}

/** Throws the build advice when the addon is missing (checked when a server starts, not at a request). */
export function checkSender(): void {
  load();
}
