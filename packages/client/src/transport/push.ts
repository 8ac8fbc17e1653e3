import type { RelayedResponse } from '../exporter-http/response.js';
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import {
  HEADER_ID,
  HEADER_POLL_CAPACITY,
  HEADER_CLIENT_META,
  HEADER_PUSH_POLL,
  HEADER_SCRAPE_TIMEOUT,
  HOP_BY_HOP_HEADERS,
  reasonPhrase,
  serializeResponseHead,
  serializeResponseHeadFlat,
  WireHeaders,
} from '@pushprox/shared';
import { AbortToken } from '../scraping/abort-token.js';
import { collectBody, streamBody } from '../scraping/exporter-body.js';
import { PUSH_POLL_HEAD_GRACE_MS, pushPollAccepted, type PushPollAsk, type PushPollWait } from './push-poll.js';
import { readSnippet } from '../http/snippet.js';

const HTTP_1_1 = Object.freeze({ major: 1, minor: 1 });

/** How much of a failed push reply's body goes into the log line. */
export const PUSH_REPLY_SNIPPET_BYTES = 200;

/**
 * Remaining seconds as Go's `%f` prints them (6 decimals). Written as
 * `X-Prometheus-Scrape-Timeout-Seconds`, which upstream's proxy both honours
 * as its push wait and strips, so it never reaches Prometheus.
 */
export function formatRemainingSeconds(ms: number): string {
  return (ms / 1000).toFixed(6);
}

/** A complete push body: the inner response head, then its body. */
export interface PushPayload {
  /**
   * One buffer; or the buffers of a small response read whole, to be sent
   * back to back (the channel writes them as they are, POST /push joins them
   * into one buffer); or a stream.
   */
  readonly body: Buffer | Buffer[] | Readable;
  /** Bytes in `body`; undefined sends the push chunked. */
  readonly length: number | undefined;
}

/** The inner response for a scrape that produced no response (error texts as upstream's). */
export function errorPayload(id: string, status: number, message: string, remainingMs: number): PushPayload {
  const text = Buffer.from(message, 'utf8');
  const head = serializeResponseHead({
    version: HTTP_1_1,
    status,
    // Prometheus shows only the status line of a failed scrape: the reason says why.
    reason: reasonPhrase(message) || (STATUS_CODES[status] ?? ''),
    headers: new WireHeaders([
      ['Content-Type', 'text/plain; charset=utf-8'],
      ['Content-Length', String(text.length)],
      [HEADER_ID, id],
      [HEADER_SCRAPE_TIMEOUT, formatRemainingSeconds(remainingMs)],
    ]),
  });
  const body = Buffer.concat([head, text]);
  return { body, length: body.length };
}

export type { RelayedResponse };

/** Exporter headers that describe the hop or the framing, which the push re-does. */
const DROPPED: ReadonlySet<string> = new Set([...HOP_BY_HOP_HEADERS, 'content-length', 'transfer-encoding']);
/** Set by the client itself on every push (an exporter's own would be a second copy). */
const ID_LOWER = HEADER_ID.toLowerCase();
const TIMEOUT_LOWER = HEADER_SCRAPE_TIMEOUT.toLowerCase();

/**
 * The exporter's response as a push body that streams: the exporter's body is
 * read only as fast as the proxy takes the push, so memory stays bounded by
 * the stream buffers whatever the scrape size.
 *
 * Invariant: the inner head's framing matches what follows it — the
 * exporter's Content-Length (and the push then has a known length), or
 * chunked re-encoding (and the push is sent chunked). A response that has no
 * body (HEAD, 204, 304) says `Content-Length: 0`.
 */
export function responsePayload(
  res: RelayedResponse,
  method: string,
  id: string,
  remainingMs: number,
  /** Told the size of every exporter body chunk passed on (see BufferReclaimer). */
  onBytes?: (bytes: number) => void,
): PushPayload | Promise<PushPayload> {
  // undici gives the exporter's fields flat (name, value, …), in order and spelling.
  const flat = res.headers as unknown as readonly string[];
  let connectionNamed: Set<string> | undefined;
  let length: number | undefined;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const lower = flat[i]!.toLowerCase();
    if (lower === 'content-length') length = Number(flat[i + 1]!.trim());
    else if (lower === 'connection') {
      connectionNamed ??= new Set();
      for (const t of flat[i + 1]!.split(',')) connectionNamed.add(t.trim().toLowerCase());
    }
  }
  const bodiless = method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304;
  if (bodiless) length = 0;
  // Framing first, then the exporter's fields minus hop-by-hop, framing and our own, then ours.
  const fields: string[] = length === undefined ? ['Transfer-Encoding', 'chunked'] : ['Content-Length', String(length)];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const lower = flat[i]!.toLowerCase();
    if (DROPPED.has(lower) || connectionNamed?.has(lower) || lower === ID_LOWER || lower === TIMEOUT_LOWER) continue;
    fields.push(flat[i]!, flat[i + 1]!.trim());
  }
  fields.push(HEADER_ID, id, HEADER_SCRAPE_TIMEOUT, formatRemainingSeconds(remainingMs));
  const head = serializeResponseHeadFlat(HTTP_1_1, res.statusCode, res.statusText || (STATUS_CODES[res.statusCode] ?? ''), fields);
  if (bodiless) {
    res.body.resume();
    return { body: head, length: head.length };
  }
  if (res.whole !== undefined && res.whole.length === length && length <= COALESCE_MAX_BYTES) {
    onBytes?.(length);
    return { body: [head, res.whole], length: head.length + length };
  }
  if (length !== undefined && length <= COALESCE_MAX_BYTES) {
    return collectBody(head, length, res.body, onBytes).then((parts) => ({ body: parts, length: head.length + length }));
  }
  return streamBody(head, length, res.body, onBytes).then((body) => ({
    body: Readable.from(body, { objectMode: false }),
    length: length === undefined ? undefined : head.length + length,
  }));
}

/**
 * Exporter bodies of at most this many bytes, with a Content-Length, are read
 * whole before the push starts, so that the push leaves in one write instead
 * of one per chunk: a channel copies head and chunks with their frames into
 * one buffer (channel.ts, WHOLE_WRITE_BYTES); POST /push joins them into one
 * buffer for undici, a bounded copy (at most 64 KiB per scrape) that is cheaper
 * than the writes it saves. Larger
 * bodies stream.
 */
export const COALESCE_MAX_BYTES = 64 * 1024;

/** A push the proxy did not accept, or that never got an answer. */
export class PushError extends Error {
  /** Reply status, if there was a reply. */
  readonly status: number | undefined;
  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PushError';
    this.status = status;
  }
}

/**
 * A POST /push refused as over the proxy's size limit (413: ours over
 * --push.max-body-size, or a reverse proxy in front). The scrape may still be
 * waiting for a response: a proxy that refuses by the declared length need not
 * have read the Id, and an upstream proxy behind that reverse proxy never saw
 * the push. A small error push then tells Prometheus why; one for a scrape
 * the proxy already failed is answered 404/410, and nothing else happens.
 */
export function refusedAsTooLarge(err: unknown): err is PushError {
  return err instanceof PushError && err.status === 413;
}

export function tooLargeText(err: PushError, payload: PushPayload): string {
  const size = payload.length === undefined ? 'streamed (chunked)' : `of ${payload.length} bytes`;
  return `the response ${size} is larger than the proxy accepts (${err.message})`;
}

export interface PushOptions {
  /** Origin of `<proxy-url>/push`. */
  readonly origin: string;
  /** Path and query of `<proxy-url>/push`. */
  readonly path: string;
  readonly dispatcher: Dispatcher;
  /** `Bearer <token>` from --client.token-file, sent with every push. */
  readonly authorization?: string | undefined;
}

/**
 * POSTs the payload to `<proxy-url>/push`, no Content-Type (as upstream).
 * Throws PushError for a non-2xx reply (our proxy answers 404/410 for
 * unknown/expired ids), quoting the first bytes of the reply body. With `ask`,
 * returns the poll's wait when the proxy took the push as a poll too; `signal`
 * (the scrape's deadline) bounds the push only up to the reply head.
 */
export async function sendPush(
  opts: PushOptions,
  payload: PushPayload,
  signal: AbortToken,
  ask?: PushPollAsk,
): Promise<PushPollWait | undefined> {
  const { dispatcher } = opts;
  const ctl = ask && new AbortToken();
  // The proxy may hold the head of an accepted push back (PUSH_POLL_HEAD_DELAY_MS in wire.ts):
  // a push sent in time is not cut while its head is on the way.
  let grace: NodeJS.Timeout | undefined;
  const forward = (): void => {
    // An aborted token always has its reason.
    grace = setTimeout(() => ctl?.abort(signal.reason!), PUSH_POLL_HEAD_GRACE_MS);
  };
  if (ctl) {
    if (signal.aborted) ctl.abort(signal.reason!);
    else signal.once('abort', forward);
  }
  const body = Array.isArray(payload.body) ? Buffer.concat(payload.body, payload.length) : payload.body;
  const onSent = ask?.onSent;
  if (onSent && !Buffer.isBuffer(body)) body.once('end', onSent);
  let res: Dispatcher.ResponseData;
  try {
    const sending = dispatcher.request({
      origin: opts.origin,
      path: opts.path,
      method: 'POST',
      headers: [
        ...(payload.length === undefined ? [] : ['Content-Length', String(payload.length)]),
        ...(opts.authorization ? ['Authorization', opts.authorization] : []),
        ...(ask ? [HEADER_PUSH_POLL, ask.fqdn, HEADER_POLL_CAPACITY, String(ask.capacity)] : []),
        ...(ask?.clientMeta ? [HEADER_CLIENT_META, ask.clientMeta] : []),
      ],
      body,
      signal: ctl ?? signal,
      headersTimeout: 0,
      bodyTimeout: ask ? ask.waitMs : 0,
    });
    // A buffer body leaves with the head, in the dispatch above.
    if (onSent && Buffer.isBuffer(body)) onSent();
    res = await sending;
  } finally {
    if (ctl) signal.removeListener('abort', forward);
    clearTimeout(grace);
  }
  if (res.statusCode >= 200 && res.statusCode < 300) {
    if (ctl && pushPollAccepted(res.headers)) return { res, abort: (reason) => ctl.abort(reason) };
    await res.body.dump();
    return undefined;
  }
  const snippet = await readSnippet(res.body, PUSH_REPLY_SNIPPET_BYTES);
  throw new PushError(`proxy answered the push with status ${res.statusCode}: ${JSON.stringify(snippet)}`, res.statusCode);
}
