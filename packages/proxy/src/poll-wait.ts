import type { ServerResponse } from 'node:http';
import {
  ERROR_CODES,
  FEATURE_IDLE_REPLY,
  FEATURE_MULTI_POLL,
  FEATURE_PUSH_POLL,
  HEADER_POLL_CAPACITY,
  HEADER_PROXY_FEATURES,
  HEADER_PUSH_POLL,
  PUSH_POLL_ACCEPTED,
  PUSH_POLL_HEAD_DELAY_MS,
  PushProxError,
  STATUS_POLL_IDLE,
  type Logger,
} from '@pushprox/shared';
import type { Coordinator, PollEndReason, PollSink } from './coordinator.js';
import { sendText } from './respond.js';

/** Every poll reply names our features; upstream clients ignore the header. */
export const FEATURES: Readonly<Record<string, string>> = Object.freeze({
  [HEADER_PROXY_FEATURES]: `${FEATURE_MULTI_POLL}, ${FEATURE_IDLE_REPLY}, ${FEATURE_PUSH_POLL}`,
});

const PUSH_POLL_HEAD: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'text/plain; charset=utf-8',
  [HEADER_PUSH_POLL]: PUSH_POLL_ACCEPTED,
  ...FEATURES,
});

/** X-Pushprox-Poll-Capacity: undefined for upstream clients, else 1 to 9999. */
export function parseCapacity(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d{1,4}$/.test(raw.trim()) || n < 1) {
    throw new PushProxError(
      ERROR_CODES.POLL_BAD_FQDN,
      `expected ${HEADER_POLL_CAPACITY} to be a whole number from 1 to 9999, got ${JSON.stringify(raw.slice(0, 32))}`,
    );
  }
  return n;
}

/** Answers a /poll: the scrape request as the body, or the reply its end reason calls for. */
function pollReplySink(res: ServerResponse, capacity: number | undefined): PollSink {
  return {
    deliver: (job) => {
      if (res.destroyed || res.headersSent) return false;
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': job.request.length, ...FEATURES });
      res.end(job.request);
      return true;
    },
    end: (reason: PollEndReason) => {
      if (res.destroyed || res.headersSent) return;
      if (reason === 'idle' || (reason === 'shutdown' && capacity !== undefined)) {
        res.writeHead(STATUS_POLL_IDLE, FEATURES);
        res.end();
      } else if (reason === 'expired') {
        // Upstream's exact reply: an upstream client counts it as a poll error and retries.
        sendText(res, 408, 'Error WaitForScrapeInstruction: request is expired', FEATURES);
      } else {
        sendText(res, 503, 'Error WaitForScrapeInstruction: proxy is shutting down', FEATURES);
      }
    },
  };
}

/**
 * Answers a push-and-poll (see HEADER_PUSH_POLL). Invariant: the head is
 * sent once, with the scrape request (Content-Length), or with an empty body
 * at the end, or alone (chunked) after PUSH_POLL_HEAD_DELAY_MS. Under load
 * the next scrape comes within a millisecond or two, so head and request
 * leave in one write; when idle, the client still learns within that delay
 * that its push succeeded.
 */
function pushPollSink(res: ServerResponse): PollSink & { arm(): void } {
  let timer: NodeJS.Timeout | undefined;
  const disarm = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  return {
    deliver: (job) => {
      if (res.destroyed || res.writableEnded) return false;
      disarm();
      if (!res.headersSent) res.writeHead(200, { ...PUSH_POLL_HEAD, 'Content-Length': job.request.length });
      res.end(job.request);
      return true;
    },
    end: () => {
      disarm();
      if (res.destroyed || res.writableEnded) return;
      if (!res.headersSent) res.writeHead(200, { ...PUSH_POLL_HEAD, 'Content-Length': 0 });
      res.end();
    },
    arm: () => {
      if (res.headersSent || res.writableEnded || res.destroyed) return;
      timer = setTimeout(() => {
        timer = undefined;
        if (res.headersSent || res.writableEnded || res.destroyed) return;
        // Chunked: the body (a scrape request, or nothing) comes when the coordinator decides.
        res.writeHead(200, PUSH_POLL_HEAD);
        res.flushHeaders();
      }, PUSH_POLL_HEAD_DELAY_MS);
      res.once('close', disarm);
    },
  };
}

export interface WaitOptions {
  readonly fqdn: string;
  readonly capacity: number | undefined;
  /** Our hello: end at once as idle unless work is pending. */
  readonly hello?: boolean;
  /** Answer as a push-and-poll rather than as a /poll. */
  readonly afterPush?: boolean;
}

/**
 * Registers `res` as a poll for `fqdn` until the coordinator answers it or
 * its connection closes (then the poll is forgotten, so no scrape is handed
 * to a dead connection).
 */
export function waitForScrape(coordinator: Coordinator, res: ServerResponse, opts: WaitOptions, logger: Logger): void {
  const pushPoll = opts.afterPush ? pushPollSink(res) : undefined;
  const sink = pushPoll ?? pollReplySink(res, opts.capacity);
  const debugSink: PollSink = logger.debugEnabled
    ? {
        deliver: (job) => {
          const ok = sink.deliver(job);
          if (ok) logger.debug(opts.afterPush ? 'Responded to /push with a scrape' : 'Responded to /poll', { fqdn: opts.fqdn, scrape_id: job.id });
          return ok;
        },
        end: (reason) => sink.end(reason),
      }
    : sink;
  const ticket = coordinator.poll(opts.fqdn, { capacity: opts.capacity, hello: opts.hello ?? false }, debugSink);
  pushPoll?.arm();
  res.on('close', () => ticket.cancel());
  if (res.destroyed) ticket.cancel();
}
