import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  formatDuration,
  ERROR_CODES,
  HEADER_SCRAPE_TIMEOUT,
  PushProxError,
  messageOf,
  relay,
  statusOf,
  type BufferReclaimer,
  type Logger,
  type ResponseHead,
} from '@pushprox/shared';
import type { Coordinator } from '../routing/coordinator.js';
import { answerWithinMs, buildScrapeRequest, scrapeTimeoutMs } from './forward.js';
import { sendText } from '../listeners/respond.js';
import { relayHeaders } from './relay.js';

export interface ScrapeHandlerOptions {
  readonly coordinator: Coordinator;
  readonly logger: Logger;
  readonly scrapeDefaultTimeoutMs: number;
  readonly scrapeMaxTimeoutMs: number;
  /** Called once per scrape with the status Prometheus got. */
  readonly onDone: (status: number) => void;
  /** Told of every relayed body chunk, so dead socket buffers are freed as they pile up. */
  readonly reclaimer: BufferReclaimer;
  /** Called once per scrape with a valid target, for the status page's history. */
  readonly onResult?: (fqdn: string, result: ScrapeOutcome) => void;
  /** Sends a scrape for a client another proxy holds to it (the cluster); undefined: none. */
  readonly forwarder?: Forwarder;
}

/**
 * Relays a scrape through the proxy that holds its client. Resolves once the
 * answer was relayed to `res`; rejects with a PushProxError (nothing written
 * yet) or after the head was written (the handler then cuts `res`).
 */
export interface Forwarder {
  forward(peer: string, scrape: ForwardedScrape, res: ServerResponse): Promise<void>;
}

/** A scrape to forward: `build` serializes it for the client under a given Id (each attempt has its own). */
export interface ForwardedScrape {
  readonly fqdn: string;
  readonly timeoutMs: number;
  build(id: string): Buffer;
}

/** How one scrape ended, as the status page shows it. */
export interface ScrapeOutcome {
  readonly status: number;
  readonly durationMs: number;
  /** Body bytes relayed to Prometheus. */
  readonly bytes: number;
  /** Why it failed; undefined when the client's answer was relayed whole. */
  readonly error?: string;
}

/** Longest part of a failed answer's body kept as its reason. */
const REASON_BYTES = 512;

/** What the /push handler hands to a waiting scrape. */
export interface PushedResponse {
  readonly head: ResponseHead;
  /** Decoded body bytes: streaming, or whole when the push was whole before it was relayed. */
  readonly body: Readable | Buffer;
}

/**
 * Scrapes that are waiting for their push, by id. The /push handler resolves
 * them; the coordinator owns their deadlines.
 */
export type Responders = Map<string, (pushed: PushedResponse) => Promise<void>>;

/**
 * Handles an absolute-form request from Prometheus: parks it in the
 * coordinator until a client takes it, then relays the pushed response.
 */
export function createScrapeHandler(opts: ScrapeHandlerOptions, responders: Responders) {
  const { coordinator, logger } = opts;
  return (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const target = req.url ?? '';
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      finish(res, 400, `Error scraping ${JSON.stringify(target)}: not a valid absolute URL`);
      return;
    }
    // URL.hostname keeps IPv6 brackets; Go's URL.Hostname() (the routing key upstream) drops them.
    const fqdn = url.hostname.replace(/^\[(.*)\]$/, '$1');
    let relayed = 0;
    const result = (status: number, error: string | undefined): void =>
      opts.onResult?.(fqdn, { status, durationMs: performance.now() - started, bytes: relayed, ...(error !== undefined && { error }) });
    const fail = (err: unknown): void => {
      if (!res.headersSent) {
        // Prometheus shows only the status line on its targets page, so the reason says why.
        finish(res, statusOf(err), `Error scraping ${JSON.stringify(target)}: ${messageOf(err)}`, messageOf(err));
        result(statusOf(err), messageOf(err));
      } else {
        res.destroy();
        opts.onDone(res.statusCode);
        result(res.statusCode, `cut short after ${relayed} bytes: ${messageOf(err)}`);
      }
    };
    // Node parses `GET http://host\nX: y HTTP/1.1` (a bare LF in the target) as
    // an HTTP/0.9 request line followed by headers; Go's server refuses it.
    if (req.httpVersionMajor !== 1) {
      fail(new PushProxError(ERROR_CODES.SCRAPE_BAD_TARGET, `expected an HTTP/1.x request line, got HTTP/${req.httpVersion} (a line break inside the request target?)`));
      return;
    }
    if (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0' || req.headers['transfer-encoding']) {
      fail(new PushProxError(ERROR_CODES.SCRAPE_BAD_TARGET, 'scrape requests with a body are not supported'));
      return;
    }
    const timeoutMs = answerWithinMs(
      scrapeTimeoutMs(
        req.headers[HEADER_SCRAPE_TIMEOUT.toLowerCase()] as string | undefined,
        opts.scrapeDefaultTimeoutMs,
        opts.scrapeMaxTimeoutMs,
      ),
    );
    const id = randomUUID();
    const build = (scrapeId: string): Buffer =>
      buildScrapeRequest({ method: req.method ?? 'GET', target, host: req.headers.host ?? url.host, headers: req.headers, id: scrapeId, timeoutMs });
    let request: Buffer;
    try {
      request = build(id);
    } catch (err) {
      fail(new PushProxError(ERROR_CODES.SCRAPE_BAD_TARGET, messageOf(err)));
      return;
    }
    const forward = (peer: string, withinMs: number): void => {
      opts.forwarder!.forward(peer, { fqdn, timeoutMs: withinMs, build }, res).then(
        () => opts.onDone(res.statusCode),
        (err: unknown) => {
          logger.warn('Forwarded scrape failed', { scrape_id: id, url: target, proxy: peer, err: messageOf(err) });
          fail(err);
        },
      );
    };
    const peer = opts.forwarder && coordinator.remoteHolderOf(fqdn);
    if (peer !== undefined && opts.forwarder) return forward(peer, timeoutMs);
    let ticket: { cancel(): void };
    try {
      ticket = coordinator.scrape({ id, fqdn, request }, timeoutMs, {
        fail: (err) => {
          responders.delete(id);
          logger.warn('Scrape failed', { scrape_id: id, url: target, err: err.message });
          fail(err);
        },
        // The client turned up at another proxy while this scrape waited (a joining proxy's grace): forwarded with the time left.
        ...(opts.forwarder && {
          moved: (to: string) => {
            responders.delete(id);
            forward(to, Math.max(1, Math.round(timeoutMs - (performance.now() - started))));
          },
        }),
      });
    } catch (err) {
      logger.warn('Scrape refused', { url: target, err: messageOf(err) });
      fail(err);
      return;
    }
    if (logger.debugEnabled) logger.debug('Scrape queued', { scrape_id: id, url: target, timeout: formatDuration(timeoutMs) });
    // Prometheus hung up (its own timeout): forget the scrape at once.
    res.on('close', () => {
      if (!res.writableFinished) {
        responders.delete(id);
        ticket.cancel();
      }
    });
    responders.set(id, async ({ head, body }) => {
      responders.delete(id);
      res.writeHead(head.status, head.reason, relayHeaders(head.headers));
      // A failed answer's reason: the start of its body (upstream's client pushes the error text), else its reason phrase.
      let reason = '';
      const keepReason = (chunk: Buffer): void => {
        if (head.status >= 400 && reason.length < REASON_BYTES) reason += chunk.subarray(0, REASON_BYTES - reason.length).toString('utf8');
      };
      try {
        if (Buffer.isBuffer(body)) {
          // Head and body in one write; a small whole body needs no stream (see relayWholePushed).
          opts.reclaimer.account(body.length);
          keepReason(body);
          relayed = body.length;
          res.end(body);
        } else {
          body.on('data', (chunk: Buffer) => {
            opts.reclaimer.account(chunk.length);
            keepReason(chunk);
            relayed += chunk.length;
          });
          await relay(body, res);
        }
        opts.onDone(head.status);
        result(head.status, head.status >= 400 ? reason.trim() || head.reason || `HTTP ${head.status}` : undefined);
      } catch (err) {
        result(head.status, `cut short after ${relayed} bytes: ${messageOf(err)}`);
        throw err;
      } finally {
        coordinator.complete(id);
      }
    });
  };

  function finish(res: ServerResponse, status: number, text: string, reason?: string): void {
    sendText(res, status, text, undefined, reason);
    opts.onDone(status);
  }
}
