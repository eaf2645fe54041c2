/**
 * Zod issues as one line for an operator: what was wrong and where, a "did you mean" for a misspelt key,
 * and never the value itself unless the caller says it is safe to show (an enum's value): an error must
 * not echo a password it was given (issue 14 point 8).
 */
import {closest, distance} from 'fastest-levenshtein';
import type {z} from 'zod';

export type AnySchema = z.ZodType & {def: {type: string; innerType?: AnySchema; shape?: Record<string, AnySchema>; valueType?: AnySchema}; options?: readonly string[]};

/** The keys an object schema at `path` (inside `schema`) knows, for "did you mean". */
export function keysAt(schema: AnySchema, path: readonly PropertyKey[]): string[] {
  let at: AnySchema | undefined = schema;
  for (let i = 0; at && i <= path.length;) {
    const type: string = at.def.type;
    if (type === 'default' || type === 'optional' || type === 'nullable' || type === 'prefault' || type === 'readonly') at = at.def.innerType;
    else if (type === 'pipe') at = (at.def as unknown as {in: AnySchema}).in;
    else if (i === path.length) break;
    else if (type === 'object') at = at.def.shape![String(path[i++])];
    else if (type === 'record') at = (i++, at.def.valueType);
    else if (type === 'array') at = (i++, (at.def as unknown as {element: AnySchema}).element);
    else at = undefined;
  }
  return at?.def.type === 'object' ? Object.keys(at.def.shape!) : [];
}

/** ` (did you mean password?)` when a known key is a likely misspelling of `key`. */
export function didYouMean(key: string, known: readonly string[]): string {
  if (!known.length) return '';
  const best = closest(key, [...known]);
  return distance(key.toLowerCase(), best.toLowerCase()) <= Math.max(2, Math.floor(best.length / 3)) ? ` (did you mean ${best}?)` : '';
}

/**
 * What was wrong, from a zod issue. The value itself is shown only when `showValue` (an enum's value,
 * never secret); otherwise only its kind: an error must never echo a password it was given.
 */
export function issueText(issue: z.core.$ZodIssue, value: unknown, showValue: boolean, known: () => string[]): string {
  const got = value === undefined ? 'nothing' : showValue ? JSON.stringify(value) : kindOf(value);
  if (issue.code === 'invalid_value' && 'values' in issue) return `expected one of ${issue.values.join(', ')}, got ${got}`;
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `unknown field ${k}${didYouMean(k, known())}`).join('; ');
  if (issue.code === 'invalid_type') return value === undefined && !issue.message.startsWith('Invalid input') ? issue.message : `expected ${issue.expected}, got ${got}`;
  return `${issue.message}${value === undefined ? '' : `, got ${got}`}`;
}

/** `a string of 9 characters`, `a number`, `an object`: a value described without showing it. */
export function kindOf(value: unknown): string {
  if (typeof value === 'string') return `a string of ${value.length} character${value.length === 1 ? '' : 's'}`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

