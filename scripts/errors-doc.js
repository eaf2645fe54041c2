#!/usr/bin/env node
// Writes docs/errors.md from the error catalogue (src/model/errors.ts, compiled to dist/): one row per
// code. `npm run build && node scripts/errors-doc.js` after changing the catalogue; test/model/errors.test.ts
// fails while the two disagree.
import {writeFileSync} from 'node:fs';
import {fileURLToPath} from 'node:url';

const cell = (text) => String(text).replaceAll('|', '\\|');

/** The markdown of docs/errors.md for a catalogue `{CODE: {status?, exit, meaning, next}}`. */
export function renderErrorsDoc(catalogue) {
  const rows = Object.entries(catalogue).map(([code, e]) =>
    `| \`${code}\` | ${e.status ?? '—'} | ${e.exit} | ${cell(e.meaning)} | ${cell(e.next)} |`);
  return `# Errors

<!-- Generated from src/model/errors.ts by scripts/errors-doc.js: edit the catalogue, not this file. -->

Every error the daemon's API and the \`layercake\` CLI (plugins included) produce has a code from this
table. The API answers \`{"error": {"code", "message", "hint", "node", "url", "value", "expected"}}\` with
the HTTP status below; the CLI prints

\`\`\`
Error [LC_ERR_INPUT_INVALID]: node n05: /physState: expected one of PHYS_UNKNOWN, POWER_OFF, POWER_ON, POWER_CYCLE, PHYS_HANG, PHYS_ERROR, got "ON"
  Try this: fix the input and try again; nothing was changed (layercake extensions lists the fields and enum values)
\`\`\`

on stderr (with \`--json\`: the same object on stdout) and exits with the exit code below: 2 for bad input
(usage, syntax, validation), 130 when interrupted (Ctrl-C at a prompt, said quietly), 1 for anything else.
A message names what was wrong and where; "what to do next" is the default hint (a message may give a
more precise one). Codes never change once published: match on them, not on messages.

| code | HTTP | exit | what it means | what to do next |
|---|---|---|---|---|
${rows.join('\n')}
`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const {ERRORS} = await import('../dist/model/errors.js');
  const out = new URL('../docs/errors.md', import.meta.url);
  writeFileSync(out, renderErrorsDoc(ERRORS));
  console.log(`wrote ${fileURLToPath(out)} (${Object.keys(ERRORS).length} codes)`);
}
