import { globToRegExp, parseTokenLines, patternsAllow, readTokenLines, type TokenLine } from '../auth/token-lines.js';

/**
 * `--enroll.token-file`: bootstrap tokens, one per line:
 *
 *   <token> [uses=N] [expires=<RFC 3339>] [fqdn-pattern ...]
 *
 * Blank lines and `#` comments are ignored. A token has at least 16
 * characters; `uses=1` makes it single-use; without patterns it is valid for
 * any FQDN (`*` matches within one label, as --client.token-file). An unknown
 * `key=value` is an error naming the line, so a typo never widens a token.
 *
 * Tokens are looked up by their SHA-256 (hex), which is also the key under
 * which their uses are counted in the state file: the secret itself is never
 * kept in memory longer than parsing, logged or written.
 */
export interface EnrollToken {
  /** SHA-256 of the token, hex. */
  readonly hash: string;
  /** For logs: `token on line N`. */
  readonly label: string;
  /** Most successful enrollments; undefined for unlimited. */
  readonly uses: number | undefined;
  /** undefined: never expires. */
  readonly expires: Date | undefined;
  /** Empty: any FQDN. */
  readonly patterns: readonly RegExp[];
}

export type EnrollTokenTable = ReadonlyMap<string, EnrollToken>;

// RFC 3339 §5.6 date-time: full-date "T" full-time, with a mandatory offset.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function parseEnrollTokens(text: string, file: string): EnrollTokenTable {
  return toTable(parseTokenLines(text, `--enroll.token-file ${file}`));
}

export function loadEnrollTokens(file: string): EnrollTokenTable {
  return toTable(readTokenLines('enroll.token-file', file));
}

function toTable(lines: readonly TokenLine[]): EnrollTokenTable {
  const tokens = new Map<string, EnrollToken>();
  for (const { hash, label, words, where } of lines) {
    let uses: number | undefined;
    let expires: Date | undefined;
    const patterns: RegExp[] = [];
    for (const word of words) {
      const eq = word.indexOf('=');
      if (eq < 0) {
        patterns.push(globToRegExp(word));
        continue;
      }
      const key = word.slice(0, eq);
      const value = word.slice(eq + 1);
      if (key === 'uses') {
        if (!/^\d+$/.test(value) || Number(value) < 1) throw new Error(`${where}: expected uses=<whole number ≥ 1>, got ${JSON.stringify(word)}`);
        uses = Number(value);
      } else if (key === 'expires') {
        const t = Date.parse(value);
        if (!RFC3339.test(value) || Number.isNaN(t)) {
          throw new Error(`${where}: expected expires=<RFC 3339 time, e.g. 2030-01-31T00:00:00Z>, got ${JSON.stringify(word)}`);
        }
        expires = new Date(t);
      } else {
        throw new Error(`${where}: unknown key ${JSON.stringify(key)}; expected uses=N, expires=<RFC 3339> or FQDN patterns`);
      }
    }
    // Use counts are kept per token: the same token twice would have two limits.
    if (tokens.has(hash)) throw new Error(`${where}: the same token is already on ${tokens.get(hash)!.label.replace('token on ', '')}`);
    tokens.set(hash, { hash, label, uses, expires, patterns });
  }
  return tokens;
}

/** Whether `token` may enroll `fqdn` (case-insensitive, as DNS names are). */
export function tokenAllows(token: EnrollToken, fqdn: string): boolean {
  return patternsAllow(token.patterns, fqdn);
}
