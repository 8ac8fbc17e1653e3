import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * The line format both token files share (--client.token-file and
 * --enroll.token-file): one token per line, at least MIN_TOKEN_LENGTH
 * characters, followed by words (FQDN patterns, and for enrollment
 * `key=value` options). Blank lines and `#` comments are ignored.
 *
 * Tokens are looked up by their SHA-256, so no comparison of secrets depends
 * on where they differ, and the secret is not kept after parsing.
 */
export const MIN_TOKEN_LENGTH = 16;

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/** A case-insensitive FQDN pattern: `*` matches within one label. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .toLowerCase()
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^.]*');
  return new RegExp(`^${body}$`);
}

/** No patterns: any FQDN. FQDNs compare case-insensitively, as DNS names do. */
export function patternsAllow(patterns: readonly RegExp[], fqdn: string): boolean {
  return patterns.length === 0 || patterns.some((p) => p.test(fqdn.toLowerCase()));
}

export interface TokenLine {
  readonly hash: string;
  /** For logs and errors: `token on line N`. */
  readonly label: string;
  /** The words after the token. */
  readonly words: readonly string[];
  /** `--flag file line N`, to prefix errors about this line. */
  readonly where: string;
}

/** The token lines of `text`; `source` (`--flag file`) names it in errors. */
export function parseTokenLines(text: string, source: string): TokenLine[] {
  const lines: TokenLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const where = `${source} line ${i + 1}`;
    const [token, ...words] = line.split(/\s+/) as [string, ...string[]];
    if (token.length < MIN_TOKEN_LENGTH) {
      throw new Error(`${where}: expected a token of at least ${MIN_TOKEN_LENGTH} characters, got ${token.length}`);
    }
    lines.push({ hash: hashToken(token), label: `token on line ${i + 1}`, words, where });
  });
  if (lines.length === 0) throw new Error(`${source} holds no token`);
  return lines;
}

export function readTokenLines(flag: string, file: string): TokenLine[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read --${flag} ${file}: ${(err as Error).message}`);
  }
  return parseTokenLines(text, `--${flag} ${file}`);
}
