import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { globToRegExp } from '../client-auth.js';

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

export const MIN_TOKEN_LENGTH = 16;

// RFC 3339 §5.6 date-time: full-date "T" full-time, with a mandatory offset.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

export function parseEnrollTokens(text: string, file: string): EnrollTokenTable {
  const where = (i: number) => `--enroll.token-file ${file} line ${i + 1}`;
  const tokens = new Map<string, EnrollToken>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const [token, ...rest] = line.split(/\s+/) as [string, ...string[]];
    if (token.length < MIN_TOKEN_LENGTH) {
      throw new Error(`${where(i)}: expected a token of at least ${MIN_TOKEN_LENGTH} characters, got ${token.length}`);
    }
    let uses: number | undefined;
    let expires: Date | undefined;
    const patterns: RegExp[] = [];
    for (const word of rest) {
      const eq = word.indexOf('=');
      if (eq < 0) {
        patterns.push(globToRegExp(word));
        continue;
      }
      const key = word.slice(0, eq);
      const value = word.slice(eq + 1);
      if (key === 'uses') {
        if (!/^\d+$/.test(value) || Number(value) < 1) throw new Error(`${where(i)}: expected uses=<whole number ≥ 1>, got ${JSON.stringify(word)}`);
        uses = Number(value);
      } else if (key === 'expires') {
        const t = Date.parse(value);
        if (!RFC3339.test(value) || Number.isNaN(t)) {
          throw new Error(`${where(i)}: expected expires=<RFC 3339 time, e.g. 2030-01-31T00:00:00Z>, got ${JSON.stringify(word)}`);
        }
        expires = new Date(t);
      } else {
        throw new Error(`${where(i)}: unknown key ${JSON.stringify(key)}; expected uses=N, expires=<RFC 3339> or FQDN patterns`);
      }
    }
    const hash = hashToken(token);
    if (tokens.has(hash)) throw new Error(`${where(i)}: the same token is already on ${tokens.get(hash)!.label.replace('token on ', '')}`);
    tokens.set(hash, { hash, label: `token on line ${i + 1}`, uses, expires, patterns });
  });
  if (tokens.size === 0) throw new Error(`--enroll.token-file ${file} holds no token`);
  return tokens;
}

export function loadEnrollTokens(file: string): EnrollTokenTable {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read --enroll.token-file ${file}: ${(err as Error).message}`);
  }
  return parseEnrollTokens(text, file);
}

/** Whether `token` may enroll `fqdn` (case-insensitive, as DNS names are). */
export function tokenAllows(token: EnrollToken, fqdn: string): boolean {
  return token.patterns.length === 0 || token.patterns.some((p) => p.test(fqdn.toLowerCase()));
}
