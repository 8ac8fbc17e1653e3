/**
 * Every name that crosses the wire between Prometheus, the proxy, the client
 * and the exporter. Upstream's client and proxy drifted apart on the timeout
 * header because these were literals in two places; keep them here only.
 *
 * HTTP header names are case-insensitive (RFC 9110 §5.1); the spellings below
 * are the canonical forms Go writes, so our bytes match upstream's.
 */

/** Proxy API paths (origin-form). Everything absolute-form is a scrape. */
export const PATH_POLL = '/poll';
export const PATH_PUSH = '/push';
export const PATH_CLIENTS = '/clients';
export const PATH_METRICS = '/metrics';

/**
 * Certificate enrollment (our extension; an upstream proxy answers 404).
 * - `GET PATH_ENROLL_CA`: the CA certificate (PEM), public. A new client
 *   fetches it over an unverified connection and accepts it only when its
 *   SHA-256 fingerprint (of the DER) equals the one the operator gave it.
 * - `POST PATH_ENROLL`: body is a PEM PKCS#10 request whose CN is the FQDN;
 *   authorised by `Authorization: Bearer <bootstrap token>` (first enrollment)
 *   or by a verified client certificate naming that FQDN (renewal). The reply
 *   is the signed certificate (PEM). The private key never leaves the client.
 */
export const PATH_ENROLL_CA = '/enroll/ca';
export const PATH_ENROLL = '/enroll';
export const CONTENT_TYPE_CSR = 'application/pkcs10';
export const CONTENT_TYPE_PEM = 'application/x-pem-file';

/** Scrape id added by the proxy; echoed by the client in the pushed response. */
export const HEADER_ID = 'Id';
/** Sent by Prometheus: the scrape timeout in (float) seconds. */
export const HEADER_SCRAPE_TIMEOUT = 'X-Prometheus-Scrape-Timeout-Seconds';
/**
 * Written by upstream's client into pushed responses (remaining seconds, `%f`).
 * Upstream's proxy never reads or strips it, so it leaks to Prometheus there.
 */
export const HEADER_SCRAPE_TIMEOUT_LEGACY = 'X-Prometheus-Scrape-Timeout';

/**
 * Extension headers. Upstream peers ignore unknown headers, so these are
 * invisible to them; our peers use them to negotiate features.
 *
 * - Client → proxy on /poll: how many polls this client keeps in flight for its
 *   FQDN (parallel scrapes), and that it understands the idle no-work reply.
 * - Proxy → client on every /poll reply: the features this proxy offers.
 */
export const HEADER_POLL_CAPACITY = 'X-Pushprox-Poll-Capacity';
export const HEADER_PROXY_FEATURES = 'X-Pushprox-Features';
/** Value of HEADER_PROXY_FEATURES: comma-separated feature tokens. */
export const FEATURE_MULTI_POLL = 'multi-poll';
export const FEATURE_IDLE_REPLY = 'idle-reply';
/**
 * Push-and-poll: a client whose proxy offers FEATURE_PUSH_POLL may send
 * `X-Pushprox-Push-Poll: <fqdn>` (and HEADER_POLL_CAPACITY) on a /push. Once
 * the pushed response is relayed, the proxy answers the push as a poll for
 * that FQDN would be answered, saving the client a separate /poll:
 * - 200 with `X-Pushprox-Push-Poll: accepted` as soon as the push is relayed
 *   (so the client knows its push succeeded), then a body that is either a
 *   scrape request (as in a poll reply) or empty (no work: idle timeout,
 *   surplus poll, displaced, shutdown; the client polls again as usual, or
 *   ends a surplus poll loop);
 * - anything else, or 2xx without that header (an upstream proxy, which
 *   ignores the request header), is a plain push reply and no poll was made.
 */
export const FEATURE_PUSH_POLL = 'push-poll';
export const HEADER_PUSH_POLL = 'X-Pushprox-Push-Poll';
/** Value of HEADER_PUSH_POLL on the push reply: the push succeeded and the body is the poll's answer. */
export const PUSH_POLL_ACCEPTED = 'accepted';
/**
 * Longest time our proxy holds an accepted push-and-poll's reply head back
 * so that it can leave in one write with the next scrape request.
 */
export const PUSH_POLL_HEAD_DELAY_MS = 100;
/**
 * A client that sends `X-Pushprox-Hello: 1` on a poll asks our proxy to reply
 * at once with a no-work reply, so it learns the proxy's features without
 * waiting for a scrape. An upstream proxy ignores it and holds the poll.
 */
export const HEADER_HELLO = 'X-Pushprox-Hello';
/**
 * Status of the no-work reply to a poll: only ever sent to clients that
 * declared HEADER_POLL_CAPACITY, never to upstream clients (which would count
 * any non-request body as a poll error).
 */
export const STATUS_POLL_IDLE = 204;
/**
 * Handover (our extension): on shutdown our proxy answers the waiting polls
 * of clients that declared HEADER_POLL_CAPACITY with the no-work reply plus
 * `X-Pushprox-Reconnect: <spread ms>` (and a channel gets a RECONNECT frame
 * with the same value): the client polls again after a random wait within
 * the spread, reaching the restarted proxy (or retrying quickly until it
 * listens) instead of backing off. Upstream clients get the 503 upstream's
 * proxy gives, and an upstream proxy never sends it.
 */
export const HEADER_RECONNECT = 'X-Pushprox-Reconnect';
/** Spread our proxy announces: wide enough that a fleet does not come back in one burst. */
export const RECONNECT_SPREAD_MS = 500;
/** Longest spread a client honours, whatever a proxy announces. */
export const MAX_RECONNECT_SPREAD_MS = 10_000;

/** A spread announced in HEADER_RECONNECT or a RECONNECT frame, clamped to 0…MAX_RECONNECT_SPREAD_MS; 0 if unreadable. */
export function parseReconnectSpread(raw: string | undefined): number {
  if (raw === undefined || !/^\s*\d{1,9}\s*$/.test(raw)) return 0;
  return Math.min(Number(raw), MAX_RECONNECT_SPREAD_MS);
}

/**
 * Channel (our extension, between our proxy and our client only): a client
 * run with --proxy.channel whose proxy lists FEATURE_CHANNEL opens
 * `GET PATH_POLL` with `Connection: Upgrade`, `Upgrade: CHANNEL_PROTOCOL`
 * and its FQDN in HEADER_CHANNEL (plus its usual Authorization and
 * HEADER_POLL_CAPACITY). Our proxy answers 101 and the connection then
 * carries frames (channel-frames.ts) instead of one HTTP exchange per poll
 * and per push: the proxy writes a REQUEST frame (a poll reply's body), the
 * client answers with DATA frames (a push's body) and END, and the channel
 * waits for the next scrape. One scrape at a time per channel; a client opens
 * up to its capacity. An upstream proxy never lists the feature, so it never
 * sees an upgrade; any answer but 101 makes the client keep polling.
 */
export const FEATURE_CHANNEL = 'channel';
export const CHANNEL_PROTOCOL = 'pushprox-channel/1';
export const HEADER_CHANNEL = 'X-Pushprox-Channel';
/** The proxy pings a waiting channel silent for this long; the client answers at once. */
export const CHANNEL_PING_MS = 30_000;
/** A channel silent this long (three pings unanswered) is dead and closed. */
export const CHANNEL_SILENCE_MS = 3 * CHANNEL_PING_MS;

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus the legacy ones Go also drops. */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Headers the proxy and client use among themselves; never shown to Prometheus. */
export const INTERNAL_HEADERS: ReadonlySet<string> = new Set([
  HEADER_ID.toLowerCase(),
  HEADER_SCRAPE_TIMEOUT.toLowerCase(),
  HEADER_SCRAPE_TIMEOUT_LEGACY.toLowerCase(),
]);

/** Query parameter (in the scrape URL) that makes the client scrape over https. */
export const PARAM_SCHEME = '_scheme';

/** Default client metrics port, as upstream. */
export const DEFAULT_CLIENT_METRICS_ADDR = ':9369';
/** Default proxy listen address, as upstream. */
export const DEFAULT_PROXY_LISTEN_ADDR = ':8080';
