import { ERROR_CODES, PushProxError } from '@pushprox/shared';

/** Largest /poll body accepted; an FQDN is at most 253 bytes (RFC 1035). */
export const MAX_POLL_BODY_BYTES = 1024;

const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;

/**
 * Validates a poll body (after trimming, as upstream does) as a host name, an
 * IPv4 address or an IPv6 literal without brackets (Go's URL.Hostname() form,
 * which is what scrapes are routed by). Anything else could never be scraped
 * and could smuggle bytes into logs or headers.
 */
export function parseFqdn(body: string): string {
  const fqdn = body.trim();
  const bad = (why: string): never => {
    throw new PushProxError(
      ERROR_CODES.POLL_BAD_FQDN,
      `expected the poll body to be the client's FQDN (a host name or IP address), got ${JSON.stringify(fqdn.slice(0, 64))}: ${why}`,
    );
  };
  if (fqdn === '') bad('empty');
  if (fqdn.length > 253) bad(`${fqdn.length} characters, more than 253`);
  if (fqdn.includes(':')) {
    if (!IPV6.test(fqdn) || fqdn.split(':').length < 3) bad('not a valid IPv6 address');
    return fqdn;
  }
  const labels = (fqdn.endsWith('.') ? fqdn.slice(0, -1) : fqdn).split('.');
  for (const l of labels) if (!LABEL.test(l)) bad(`label ${JSON.stringify(l)} is not a valid host name label`);
  return fqdn;
}
