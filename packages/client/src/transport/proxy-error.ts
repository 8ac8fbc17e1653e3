import { describeError } from '../scraping/scrape.js';

/**
 * OpenSSL's verdict when the first bytes back from an https:// proxy URL are
 * not a TLS record: almost always a proxy that speaks plain HTTP (a proxy
 * serving TLS answers plain HTTP with Go's or our 400, the reverse case).
 */
const PLAIN_HTTP_CODES: ReadonlySet<string> = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG']);

export const PLAIN_PROXY_HINT = 'the proxy answered in plain HTTP: use http:// in --proxy-url or enable TLS on the proxy';

/** Whether `err`, its causes (at most 8 deep) or the errors it aggregates carry one of `codes`. */
function hasCode(err: unknown, codes: ReadonlySet<string>, depth = 0): boolean {
  if (depth > 8 || typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && codes.has(code)) return true;
  if (err instanceof AggregateError && err.errors.some((e) => hasCode(e, codes, depth + 1))) return true;
  return hasCode((err as { cause?: unknown }).cause, codes, depth + 1);
}

/**
 * An error on the way to the proxy (poll, channel, push) as the operator
 * should read it: a TLS mismatch says what to do instead of OpenSSL's
 * "wrong version number"; anything else as describeError has it.
 */
export function describeProxyError(err: unknown): string {
  return hasCode(err, PLAIN_HTTP_CODES) ? `${PLAIN_PROXY_HINT} (${describeCode(err)})` : describeError(err);
}

function describeCode(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'TLS handshake failed';
}
