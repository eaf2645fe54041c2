/**
 * Plain-text boot templates: `{{.Name}}` (spaces allowed inside the braces) is replaced by the value of
 * variable Name. Nothing is escaped (a kernel command line is not HTML). An unknown variable, or any other
 * `{{ ... }}` construct, is an error naming the template line, so a typo never boots a node with a blank
 * where its IP should be.
 */
export class TemplateError extends Error {}

const TAG = /\{\{\s*(.*?)\s*\}\}/g;

export function render(text: string, vars: Readonly<Record<string, string>>, name = 'template'): string {
  return text.replace(TAG, (_match, inner: string, offset: number) => {
    const line = text.slice(0, offset).split('\n').length;
    const m = /^\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(inner);
    if (!m) throw new TemplateError(`${name}:${line}: unsupported template expression {{${inner}}} (only {{.Name}} is supported)`);
    const value = vars[m[1]!];
    if (value === undefined) {
      throw new TemplateError(`${name}:${line}: unknown variable .${m[1]} (known: ${Object.keys(vars).sort().join(', ')})`);
    }
    return value;
  });
}

/** The variables a template uses, in order of first use. */
export function variablesOf(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(TAG)) {
    const v = /^\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(m[1]!);
    if (v) out.add(v[1]!);
  }
  return [...out];
}
