import { CLIENT_META_LIMITS, LABEL_NAME_RE } from '@pushprox/shared';

/**
 * One `--label key=value`: the key a Prometheus label name not starting
 * with `__` (Prometheus reserves those), the value any UTF-8 text (may be
 * empty; `=` after the first belongs to the value).
 */
export function parseLabel(s: string): readonly [string, string] {
  const eq = s.indexOf('=');
  if (eq < 0) throw new Error(`expected key=value, got ${JSON.stringify(s)}`);
  const name = s.slice(0, eq);
  const value = s.slice(eq + 1);
  if (!LABEL_NAME_RE.test(name) || name.length > CLIENT_META_LIMITS.labelNameLength) {
    throw new Error(`expected a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, at most ${CLIENT_META_LIMITS.labelNameLength} characters) before "=", got ${JSON.stringify(name)}`);
  }
  if (name.startsWith('__')) throw new Error(`label ${JSON.stringify(name)} starts with "__", which Prometheus reserves for its own labels`);
  if (value.length > CLIENT_META_LIMITS.labelValueLength) {
    throw new Error(`label ${name}: expected a value of at most ${CLIENT_META_LIMITS.labelValueLength} characters, got ${value.length}`);
  }
  return [name, value];
}

/** The --label pairs as a frozen record; a key given twice is an error naming it. */
export function labelSet(pairs: readonly (readonly [string, string])[]): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, value] of pairs) {
    if (Object.hasOwn(out, name)) throw new Error(`invalid value for --label: label ${JSON.stringify(name)} given twice (${JSON.stringify(out[name])} and ${JSON.stringify(value)})`);
    out[name] = value;
  }
  if (Object.keys(out).length > CLIENT_META_LIMITS.labels) {
    throw new Error(`invalid value for --label: expected at most ${CLIENT_META_LIMITS.labels} labels, got ${Object.keys(out).length}`);
  }
  return Object.freeze(out);
}
