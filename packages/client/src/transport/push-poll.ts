import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { HEADER_PUSH_POLL, PUSH_POLL_ACCEPTED, PUSH_POLL_HEAD_DELAY_MS } from '@pushprox/shared';
import type { ScrapeRequest } from './scrape-request.js';
import { readPushPollReply, type PollReply } from './poll-reply.js';

/** Asks the proxy to answer the push as a poll for `fqdn` (push-and-poll, see HEADER_PUSH_POLL). */
export interface PushPollAsk {
  readonly fqdn: string;
  /** Sent as X-Pushprox-Poll-Capacity, as on /poll. */
  readonly capacity: number;
  /** X-Pushprox-Client-Meta, as on /poll. Default none. */
  readonly clientMeta?: string | undefined;
  /** Longest silence while waiting for the poll's answer once the push is accepted. */
  readonly waitMs: number;
  /**
   * Called once the push's body has been handed to the connection: from then
   * on the proxy will hold the push as a poll, although its reply head may
   * come only with the next scrape (PUSH_POLL_HEAD_DELAY_MS).
   */
  readonly onSent?: () => void;
}

/**
 * An accepted push-and-poll: the reply head has arrived (the push succeeded)
 * and its body, still unread, is the poll's answer. The scrape's deadline no
 * longer applies to it; `abort` ends the wait.
 */
export interface PushPollWait {
  readonly res: Dispatcher.ResponseData;
  abort(reason: Error): void;
}

/** How long past the scrape deadline a push-and-poll may wait for its reply head (the proxy may hold it back). */
export const PUSH_POLL_HEAD_GRACE_MS = 2 * PUSH_POLL_HEAD_DELAY_MS + 50;

/** True if a 2xx push reply says the proxy took the push as a poll too. */
export function pushPollAccepted(headers: Dispatcher.ResponseData['headers']): boolean {
  const v = headers[HEADER_PUSH_POLL.toLowerCase()];
  return (Array.isArray(v) ? v[0] : v)?.trim().toLowerCase() === PUSH_POLL_ACCEPTED;
}

/**
 * The answer to a push-and-poll; undefined when `stop` ended the wait before
 * any of it arrived, or when the wait timed out (the loop polls again).
 */
export async function awaitPushPoll(wait: PushPollWait, maxBytes: number, stop: AbortSignal): Promise<PollReply | undefined> {
  try {
    const reply = await readPushPollReply(wait.res, maxBytes, stop, (reason) => wait.abort(reason));
    return reply.kind === 'stopped' ? undefined : reply;
  } catch (err) {
    if ((err as { cause?: { code?: unknown } }).cause?.code === 'UND_ERR_BODY_TIMEOUT') return undefined;
    throw err;
  }
}

/**
 * The scrape's push, or 'stopped' if `stop` comes first: the poll loop then
 * leaves at once (the scheduler drains the scrape), and the push-and-poll
 * answer, when it comes, is read as stop() treats polls — a scrape already
 * arriving is still handed to `onLateScrape`.
 */
export function unlessStopped(
  job: Promise<PushPollWait | undefined> | void,
  stop: AbortSignal,
  maxBytes: number,
  onLateScrape: (request: ScrapeRequest) => void,
): Promise<PushPollWait | undefined | 'stopped'> {
  if (!job) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const onStop = (): void => {
      resolve('stopped');
      void job.then(async (wait) => {
        const next = wait && (await awaitPushPoll(wait, maxBytes, stop).catch(() => undefined));
        if (next?.kind === 'scrape') onLateScrape({ head: next.head, body: next.body, receivedAt: performance.now() });
      });
    };
    if (stop.aborted) return onStop();
    stop.addEventListener('abort', onStop, { once: true });
    void job.then((wait) => {
      stop.removeEventListener('abort', onStop);
      resolve(wait);
    });
  });
}
