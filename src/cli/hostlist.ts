/**
 * Hostlist expressions, the compact way HPC tools name sets of machines:
 * `n[01-16],gpu[1-4]`, `rack[1-2]-n[1,3,5-7]`, `head`.
 *
 * Grammar: a comma-separated list of patterns (commas inside brackets do not split). A pattern is literal
 * text with any number of bracket groups; each group is a comma-separated list of numbers and ranges
 * `a-b` (a <= b). A range whose start has a leading zero (`01-16`) pads every number to the width of its
 * start; otherwise numbers are printed as they are. Several groups in one pattern expand as a product, in
 * order (`r[1-2]n[1-2]` gives r1n1 r1n2 r2n1 r2n2). There is no exclusion syntax (`^`).
 */

/** The most names one expression may produce; a typo such as `n[1-1000000000]` fails instead of eating memory. */
export const HOSTLIST_LIMIT = 100_000;

export class HostlistError extends Error {
  override name = 'HostlistError';
  constructor(readonly expression: string, reason: string) {
    super(`invalid hostlist '${expression}': ${reason}`);
  }
}

/** Split at commas that are not inside brackets. */
function splitTopLevel(expr: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (c === '[') {
      depth++;
      if (depth > 1) throw new HostlistError(expr, `nested '[' at position ${i + 1}`);
    } else if (c === ']') {
      depth--;
      if (depth < 0) throw new HostlistError(expr, `']' without '[' at position ${i + 1}`);
    } else if (c === ',' && depth === 0) {
      parts.push(expr.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) throw new HostlistError(expr, "'[' without ']'");
  parts.push(expr.slice(start));
  return parts.map((p) => p.trim());
}

/** The strings one bracket group stands for, e.g. `01-03,7` gives 01 02 03 7. */
function expandGroup(expr: string, group: string): string[] {
  const out: string[] = [];
  for (const raw of group.split(',')) {
    const item = raw.trim();
    if (item === '') throw new HostlistError(expr, `empty item in [${group}]`);
    const m = /^(\d+)(?:-(\d+))?$/.exec(item);
    if (!m) throw new HostlistError(expr, `'${item}' in [${group}] is not a number or a range a-b`);
    const [, from, to] = m;
    if (to === undefined) {
      out.push(from);
      continue;
    }
    if (from.length > 15 || to.length > 15) throw new HostlistError(expr, `range ${item} has numbers too long to count`);
    const a = Number(from);
    const b = Number(to);
    if (a > b) throw new HostlistError(expr, `range ${item} runs backwards`);
    if (b - a + 1 > HOSTLIST_LIMIT) throw new HostlistError(expr, `range ${item} has more than ${HOSTLIST_LIMIT} values`);
    const width = from.length > 1 && from.startsWith('0') ? from.length : 0;
    for (let n = a; n <= b; n++) out.push(width ? String(n).padStart(width, '0') : String(n));
  }
  return out;
}

/** Expand one pattern (no top-level commas) into names. */
function expandPattern(expr: string, pattern: string): string[] {
  let results = [''];
  let rest = pattern;
  while (rest.length > 0) {
    const open = rest.indexOf('[');
    if (open === -1) {
      results = results.map((r) => r + rest);
      break;
    }
    const close = rest.indexOf(']', open);
    const literal = rest.slice(0, open);
    const values = expandGroup(expr, rest.slice(open + 1, close));
    if (results.length * values.length > HOSTLIST_LIMIT) {
      throw new HostlistError(expr, `expands to more than ${HOSTLIST_LIMIT} names`);
    }
    results = results.flatMap((r) => values.map((v) => r + literal + v));
    rest = rest.slice(close + 1);
  }
  return results;
}

/**
 * Expand a hostlist expression into names, in order, without duplicates (the first occurrence wins).
 * Throws HostlistError naming the expression and what is wrong with it.
 */
export function expandHostlist(expression: string): string[] {
  const expr = expression.trim();
  if (expr === '') throw new HostlistError(expression, 'it is empty');
  const seen = new Set<string>();
  for (const pattern of splitTopLevel(expr)) {
    if (pattern === '') throw new HostlistError(expression, 'empty name between commas');
    if (/\s/.test(pattern)) throw new HostlistError(expression, `'${pattern}' contains white space`);
    for (const name of expandPattern(expr, pattern)) {
      seen.add(name);
      if (seen.size > HOSTLIST_LIMIT) throw new HostlistError(expression, `expands to more than ${HOSTLIST_LIMIT} names`);
    }
  }
  return [...seen];
}

/** Expand several expressions (e.g. command-line arguments), keeping order and dropping duplicates. */
export function expandHostlists(expressions: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const e of expressions) for (const name of expandHostlist(e)) seen.add(name);
  return [...seen];
}

/**
 * The inverse, for display: names that share a prefix and end in numbers of equal width become one
 * bracket group (`n01 n02 n03 n07` gives `n[01-03,07]`). Names are grouped in first-seen order of their
 * prefix; `expandHostlist(compressHostlist(names))` yields the same set.
 */
export function compressHostlist(names: readonly string[]): string {
  const unique = [...new Set(names)];
  const parsed = unique.map((name) => {
    const m = /^(.*?)(\d+)$/.exec(name);
    // A name without a trailing number (or with one too long to count exactly), or with brackets or
    // commas in it, is kept as it is.
    return m && m[2].length <= 15 && !/[[\],]/.test(name) ? {name, prefix: m[1], digits: m[2]} : {name};
  });
  // Zero-padded numbers fix a width for their prefix; unpadded numbers of that same length join them.
  const paddedWidths = new Set<string>();
  for (const p of parsed) {
    if ('digits' in p && p.digits!.length > 1 && p.digits!.startsWith('0')) paddedWidths.add(`${p.prefix}\u0000${p.digits!.length}`);
  }
  const groups = new Map<string, {prefix: string; width: number; numbers: number[]}>();
  const order: string[] = [];
  for (const p of parsed) {
    if (!('digits' in p)) {
      order.push(`=${p.name}`);
      continue;
    }
    const prefix = p.prefix!;
    const digits = p.digits!;
    const width = paddedWidths.has(`${prefix}\u0000${digits.length}`) ? digits.length : 0;
    const key = `${prefix}\u0000${width}`;
    let g = groups.get(key);
    if (!g) {
      g = {prefix, width, numbers: []};
      groups.set(key, g);
      order.push(`#${key}`);
    }
    g.numbers.push(Number(digits));
  }
  const render = (g: {prefix: string; width: number; numbers: number[]}): string => {
    const nums = [...new Set(g.numbers)].sort((a, b) => a - b);
    const fmt = (n: number) => (g.width ? String(n).padStart(g.width, '0') : String(n));
    if (nums.length === 1) return g.prefix + fmt(nums[0]);
    const ranges: string[] = [];
    for (let i = 0; i < nums.length; ) {
      let j = i;
      while (j + 1 < nums.length && nums[j + 1] === nums[j] + 1) j++;
      ranges.push(j === i ? fmt(nums[i]) : `${fmt(nums[i])}-${fmt(nums[j])}`);
      i = j + 1;
    }
    return `${g.prefix}[${ranges.join(',')}]`;
  };
  return order.map((o) => (o.startsWith('=') ? o.slice(1) : render(groups.get(o.slice(1))!))).join(',');
}
