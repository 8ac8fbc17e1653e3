import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import {
  ERROR_CODES,
  FEATURE_CHANNEL,
  FEATURE_MULTI_POLL,
  FEATURE_PUSH_POLL,
  HEADER_ID,
  HEADER_PROXY_FEATURES,
  HEADER_RECONNECT,
  messageOf,
  parseReconnectSpread,
  parseRequest,
  PushProxError,
  STATUS_POLL_IDLE,
  type RequestHead,
} from '@pushprox/shared';
import { readSnippet } from '../http/snippet.js';

/** Largest poll reply body taken (a scrape request head plus a small body). */
export const DEFAULT_MAX_POLL_REPLY_BYTES = 1024 * 1024;
/** How much of an unexpected poll reply goes into the error message. */
const SNIPPET_BYTES = 200;

/**
 * A poll reply that is not a scrape request nor an idle reply. `multiPoll`
 * tells what the reply said about the proxy's features (undefined when there
 * was no reply at all).
 */
export class PollError extends PushProxError {
  readonly multiPoll: boolean | undefined;
  constructor(message: string, multiPoll: boolean | undefined, options?: { cause?: unknown }) {
    super(ERROR_CODES.CLIENT_BAD_POLL_REPLY, message, options);
    this.name = 'PollError';
    this.multiPoll = multiPoll;
  }
}

/** A poll reply and what its X-Pushprox-Features offers. */
export type PollReply = Features &
  ({ readonly kind: 'idle'; readonly reconnectMs?: number } | { readonly kind: 'scrape'; readonly head: RequestHead; readonly body: Buffer });

const FEATURES_KEY = HEADER_PROXY_FEATURES.toLowerCase();

/** What a reply's X-Pushprox-Features lists (multi-poll, push-poll, channel). */
interface Features {
  readonly multiPoll: boolean;
  readonly pushPoll: boolean;
  readonly channel: boolean;
}

/**
 * The last single X-Pushprox-Features value parsed, and what it offers: a
 * proxy sends the same value on every reply, so each scrape's reply would
 * otherwise split and lower-case it again.
 */
let lastFeatures: { readonly raw: string; readonly features: Features } | undefined;

/** What a reply's X-Pushprox-Features offers. */
function featuresOf(headers: Dispatcher.ResponseData['headers']): Features {
  const raw = headers[FEATURES_KEY];
  if (typeof raw === 'string' && raw === lastFeatures?.raw) return lastFeatures.features;
  // Upstream proxies send no such header.
  const values = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  const tokens = values.flatMap((v) => v.split(',').map((t) => t.trim().toLowerCase()));
  const features = {
    multiPoll: tokens.includes(FEATURE_MULTI_POLL),
    pushPoll: tokens.includes(FEATURE_PUSH_POLL),
    channel: tokens.includes(FEATURE_CHANNEL),
  };
  if (typeof raw === 'string') lastFeatures = { raw, features };
  return features;
}

/** True if the reply's X-Pushprox-Features lists multi-poll (upstream proxies send no such header). */
export function offersMultiPoll(headers: Dispatcher.ResponseData['headers']): boolean {
  return featuresOf(headers).multiPoll;
}

/**
 * Classifies a poll reply: 204 is "no work", 200 carries a scrape request
 * (parsed with the codec; it must have an Id to push back to), anything else
 * — 408 from an upstream proxy that got a second poll, a load balancer's 5xx
 * — is a PollError quoting status and body start. Consumes the body.
 */
export async function readPollReply(res: Dispatcher.ResponseData, maxBytes: number): Promise<PollReply> {
  const features = featuresOf(res.headers);
  if (res.statusCode === STATUS_POLL_IDLE) {
    await res.body.dump();
    // Our proxy is going away (see HEADER_RECONNECT): poll again within the spread.
    const reconnect = res.headers[HEADER_RECONNECT.toLowerCase()];
    if (typeof reconnect === 'string') return { kind: 'idle', reconnectMs: parseReconnectSpread(reconnect), ...features };
    return { kind: 'idle', ...features };
  }
  if (res.statusCode !== 200) {
    const snippet = await readSnippet(res.body, SNIPPET_BYTES);
    throw new PollError(`proxy answered the poll with status ${res.statusCode}: ${JSON.stringify(snippet)}`, features.multiPoll);
  }
  return scrapeReply(await readBounded(res.body, maxBytes, features.multiPoll), features);
}

/**
 * Reads the body of an accepted push-and-poll (see HEADER_PUSH_POLL): empty
 * is "no work", anything else a scrape request as in a poll reply. `stop`
 * ends the wait only while no byte of the answer has arrived, so a scrape
 * already on its way is still taken; then the result is 'stopped'.
 */
export async function readPushPollReply(
  res: Dispatcher.ResponseData,
  maxBytes: number,
  stop: AbortSignal,
  abort: (reason: Error) => void,
): Promise<PollReply | { readonly kind: 'stopped' }> {
  const features = featuresOf(res.headers);
  const { multiPoll } = features;
  let started = false;
  const onStop = (): void => {
    if (!started) abort(new Error('client stopping'));
  };
  stop.addEventListener('abort', onStop, { once: true });
  if (stop.aborted) onStop();
  let buf: Buffer;
  try {
    buf = await readBounded(res.body, maxBytes, multiPoll, () => (started = true));
  } catch (err) {
    if (stop.aborted && !started) return { kind: 'stopped' };
    throw err instanceof PollError ? err : new PollError(`waiting for the poll answer on a push failed: ${messageOf(err)}`, multiPoll, { cause: err });
  } finally {
    stop.removeEventListener('abort', onStop);
  }
  if (buf.length === 0) return { kind: 'idle', ...features };
  return scrapeReply(buf, features);
}

function scrapeReply(buf: Buffer, features: Features): PollReply {
  const { head, body } = parseScrapeRequest(buf, features.multiPoll);
  return { kind: 'scrape', ...features, head, body };
}

/**
 * A scrape request as a poll reply (or a channel's REQUEST frame) carries it;
 * throws PollError if it is not an HTTP request or has no Id to push back to.
 */
export function parseScrapeRequest(buf: Buffer, multiPoll = true): { head: RequestHead; body: Buffer } {
  let parsed;
  try {
    parsed = parseRequest(buf);
  } catch (err) {
    throw new PollError(
      `poll reply body is not an HTTP request (${messageOf(err)}); starts with ${JSON.stringify(buf.subarray(0, SNIPPET_BYTES).toString('latin1'))}`,
      multiPoll,
      { cause: err },
    );
  }
  if (!parsed.head.headers.has(HEADER_ID)) {
    throw new PollError(`scrape request in the poll reply has no ${HEADER_ID} header, so its result could not be pushed`, multiPoll);
  }
  return parsed;
}

async function readBounded(body: Readable, maxBytes: number, multiPoll: boolean, onFirst?: () => void): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    if (size === 0) onFirst?.();
    size += buf.length;
    if (size > maxBytes) {
      body.destroy();
      throw new PollError(`poll reply body exceeds ${maxBytes} bytes`, multiPoll);
    }
    parts.push(buf);
  }
  return Buffer.concat(parts);
}
