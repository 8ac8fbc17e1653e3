/**
 * Flag names as the user typed them, checked before yargs sees argv: Go-style
 * single-dash long flags are rewritten, and an unknown flag is named with the
 * closest known one. yargs' own messages for both cases mislead: it reads
 * `-web.listen-address` as the short flags w, e, b, ..., and reports a
 * misspelled required flag (`--proxy_url`) as missing.
 */

/** The flags a parser knows, from yargs' `getOptions()`. */
export interface KnownFlags {
  /** Every long name and alias (`web.listen-address`, `help`, `h`). */
  readonly names: ReadonlySet<string>;
  /** Boolean flags, which also take a `no-` prefix. */
  readonly booleans: ReadonlySet<string>;
}

function isKnown(name: string, known: KnownFlags): boolean {
  return known.names.has(name) || (name.startsWith('no-') && known.booleans.has(name.slice(3)));
}

/**
 * Go's flag package and kingpin accept `-name` as well as `--name` for long
 * flags, and upstream's docs and systemd units in the field use
 * `-web.listen-address=:8080`. A single-dash token whose name has a dot or a
 * dash inside and is a known flag becomes `--name`; anything else (short
 * flags, negative values such as `-1s`) is left alone. Stops at `--`.
 */
export function rewriteGoStyleFlags(argv: readonly string[], known: KnownFlags): string[] {
  const out: string[] = [];
  let done = false;
  for (const arg of argv) {
    if (arg === '--') done = true;
    const m = done ? null : /^-([a-zA-Z][^=]*[.-][^=]*)(=[\s\S]*)?$/.exec(arg);
    out.push(m && !arg.startsWith('--') && isKnown(m[1]!, known) ? `-${arg}` : arg);
  }
  return out;
}

/**
 * The first flag in argv (before `--`) that the parser does not know, as the
 * user wrote it, with a suggestion when one known flag is close; undefined
 * when all are known. Single-dash tokens count only when they look like a
 * long flag (a letter, then a dot or dash inside), so `-h` and `-1s` pass.
 */
export function unknownFlagMessage(argv: readonly string[], known: KnownFlags): string | undefined {
  for (const arg of argv) {
    if (arg === '--') return undefined;
    const m = /^(--?)([a-zA-Z][^=]*)/.exec(arg);
    if (!m) continue;
    const [, dashes, name] = m as unknown as [string, string, string];
    if (dashes === '-' && !/[.-]/.test(name)) continue;
    if (isKnown(name, known)) continue;
    const near = closestFlag(name, known);
    return `unknown flag ${dashes}${name}${near === undefined ? '' : `: did you mean --${near}?`}`;
  }
  return undefined;
}

/**
 * The known long flag closest to `name`: the same with `_` for `-` or another
 * case, the one flag ending in `.name` (`--listen-address` for
 * `--web.listen-address`), or the nearest by edit distance within about a
 * quarter of the name's length (at least 2).
 */
export function closestFlag(name: string, known: KnownFlags): string | undefined {
  const norm = name.toLowerCase().replace(/_/g, '-').replace(/^no-/, '');
  const longs = [...known.names].filter((n) => n.length > 1);
  const exact = longs.find((n) => n === norm);
  if (exact !== undefined) return exact;
  const suffixed = longs.filter((n) => n.endsWith(`.${norm}`));
  if (suffixed.length === 1) return suffixed[0];
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(norm.length / 4)) + 1;
  for (const n of longs) {
    const d = editDistance(norm, n, bestDistance);
    if (d < bestDistance) {
      best = n;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance, giving up (returning `limit`) once every path is at least `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      row.push(v);
      rowMin = Math.min(rowMin, v);
    }
    if (rowMin >= limit) return limit;
    prev = row;
  }
  return Math.min(prev[b.length]!, limit);
}
