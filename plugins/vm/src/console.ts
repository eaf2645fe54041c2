/** Reading a VM's serial console log (SeaBIOS, iPXE, the kernel and Layer0's init all write there). */
import {closeSync, existsSync, openSync, readSync, statSync} from 'node:fs';

const ESC = String.fromCharCode(27);
const ANSI = new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]|${ESC}[()][A-Za-z0-9]|${ESC}[=>c]`, 'g');
const BS = String.fromCharCode(8);
/** A character and the backspace that erases it (iPXE draws its spinners and progress with them). */
const BACKSPACED = new RegExp(`[^\n${BS}]${BS}`, 'g');

/** Applies backspaces as a terminal does: "17\b\b" erases both digits (innermost pairs first, until none is left). */
function applyBackspaces(text: string): string {
  let out = text;
  for (let before = ''; before !== out;) {
    before = out;
    out = out.replace(BACKSPACED, '');
  }
  return out.replaceAll(BS, '');
}

/** Console text as a person reads it: no terminal escapes, no carriage returns, no backspaced spinners. */
export function cleanConsole(text: string): string {
  return applyBackspaces(text.replace(ANSI, '').replace(/[^\n]*\r(?!\n)/g, '').replace(/\r/g, ''));
}

/** The bytes of `file` from `offset` on (up to `max`), or '' when it does not exist. */
export function readFrom(file: string, offset: number, max = 1 << 20): {text: string; next: number} {
  if (!existsSync(file)) return {text: '', next: offset};
  const size = statSync(file).size;
  if (size <= offset) return {text: '', next: size < offset ? 0 : offset};
  const length = Math.min(max, size - offset);
  const buffer = Buffer.alloc(length);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buffer, 0, length, offset);
  } finally {
    closeSync(fd);
  }
  return {text: buffer.toString('utf8'), next: offset + length};
}

/** The last non-empty line of a console log (for the demo's live view). */
export function lastLine(file: string): string {
  const size = existsSync(file) ? statSync(file).size : 0;
  const lines = cleanConsole(readFrom(file, Math.max(0, size - 4096)).text).split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.at(-1) ?? '';
}
