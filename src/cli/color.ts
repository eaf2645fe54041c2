/**
 * Terminal colour with meaning: a state's colour says whether it is good (green), moving (yellow),
 * broken (red) or off (dim). Colour is used only on a terminal and never when NO_COLOR is set
 * (https://no-color.org); FORCE_COLOR=1 forces it on, FORCE_COLOR=0 off.
 */

export type Tone = 'good' | 'moving' | 'bad' | 'off' | 'plain';

const CODES: Record<Exclude<Tone, 'plain'> | 'bold' | 'cyan', [number, number]> = {
  good: [32, 39],
  moving: [33, 39],
  bad: [31, 39],
  off: [2, 22],
  bold: [1, 22],
  cyan: [36, 39],
};

/** Whether output to `stream` should be coloured. */
export function colorEnabled(stream: {isTTY?: boolean} = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  if (env.TERM === 'dumb') return false;
  return Boolean(stream.isTTY);
}

let enabled: boolean | undefined;

/** Override the automatic decision (tests, --no-color). `undefined` restores it. */
export function setColor(on: boolean | undefined): void {
  enabled = on;
}

function on(): boolean {
  return enabled ?? colorEnabled();
}

export function paint(style: keyof typeof CODES, text: string): string {
  if (!on() || text === '') return text;
  const [open, close] = CODES[style];
  return `\u001b[${open}m${text}\u001b[${close}m`;
}

export const bold = (text: string) => paint('bold', text);
export const dim = (text: string) => paint('off', text);
export const red = (text: string) => paint('bad', text);
export const green = (text: string) => paint('good', text);
export const yellow = (text: string) => paint('moving', text);
export const cyan = (text: string) => paint('cyan', text);

const GOOD = new Set(['RUN', 'POWER_ON', 'SYNC', 'ACTIVE', 'converged', 'done', 'COMPLETE', 'ok', 'FREE', 'synced']);
const MOVING = new Set([
  'INIT', 'POWER_CYCLE', 'PHYS_UNKNOWN', 'UNKNOWN', 'converging', 'running', 'waiting', 'pending', 'MUTATE', 'WAIT', 'BUSY', 'phoning', 'confirming',
]);
const BAD = new Set(['ERROR', 'PHYS_ERROR', 'PHYS_HANG', 'HANG', 'failed', 'held', 'INTERRUPT', 'error']);
const OFF = new Set(['POWER_OFF', 'STOP', 'NONE', 'frozen', 'none']);

/** The tone of an enum value or status word: states that carry meaning get their colour. */
export function toneOf(value: string): Tone {
  if (GOOD.has(value)) return 'good';
  if (BAD.has(value) || /ERROR|HANG|FAIL/.test(value)) return 'bad';
  if (MOVING.has(value)) return 'moving';
  if (OFF.has(value)) return 'off';
  return 'plain';
}

/** Colour a state value by its meaning. */
export function state(value: string): string {
  const tone = toneOf(value);
  return tone === 'plain' ? value : paint(tone, value);
}

/** Text length as displayed (ANSI colour codes take no room). */
export function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex -- matching the escape character is the point
  return text.replace(/\u001b\[[0-9;]*m/g, '').length;
}
