/**
 * Go's time.ParseDuration syntax, exactly: an optional sign, then one or more
 * `<decimal><unit>` terms (`1h2m3.5s`, `100ms`, `300us`); `0` alone is the
 * only unitless value. Units: ns, us, µs (U+00B5), μs (U+03BC), ms, s, m, h.
 * Durations are carried as milliseconds (a float, so `300us` is 0.3).
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

// Go rejects durations beyond int64 nanoseconds (about 292 years).
const MAX_MS = 9_223_372_036_854.775;

const TERM = /(\d*)(?:\.(\d*))?([^\d.]+)/y;

/** Returns milliseconds, or throws an Error saying what was expected. */
export function parseDuration(input: string): number {
  const fail = (why: string): never => {
    throw new Error(`expected a Go duration such as 15s, 1m30s or 100ms, got ${JSON.stringify(input)}: ${why}`);
  };
  let s = input;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') fail('empty');
  let total = 0;
  TERM.lastIndex = 0;
  while (TERM.lastIndex < s.length) {
    const start = TERM.lastIndex;
    const m = TERM.exec(s);
    if (!m || m.index !== start) fail(`unexpected text at ${JSON.stringify(s.slice(start))}`);
    const [, whole = '', frac, unit = ''] = m!;
    if (whole === '' && (frac === undefined || frac === '')) fail('a number must come before each unit');
    const scale = UNIT_MS[unit];
    if (scale === undefined) fail(`unknown unit ${JSON.stringify(unit)} (valid: ns, us, µs, ms, s, m, h)`);
    total += Number(`${whole || '0'}.${frac ?? '0'}`) * scale!;
  }
  if (total > MAX_MS) fail('out of range');
  return sign * total;
}

/** Formats milliseconds the way Go's Duration.String does (`1m30s`, `100ms`, `0s`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  let out: string;
  if (rest < 1000) {
    out = rest >= 1 ? `${trim(rest)}ms` : rest >= 1e-3 ? `${trim(rest * 1e3)}µs` : `${trim(rest * 1e6)}ns`;
  } else {
    const h = Math.floor(rest / 3_600_000);
    rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000);
    rest -= m * 60_000;
    const sec = `${trim(rest / 1000)}s`;
    out = h > 0 ? `${h}h${m}m${sec}` : m > 0 ? `${m}m${sec}` : sec;
  }
  return neg ? `-${out}` : out;
}

function trim(n: number): string {
  return String(Number(n.toFixed(9)));
}
