import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ERROR_CODES,
  FEATURE_IDLE_REPLY,
  FEATURE_MULTI_POLL,
  HEADER_HELLO,
  HEADER_POLL_CAPACITY,
  HEADER_PROXY_FEATURES,
  PushProxError,
  STATUS_POLL_IDLE,
  messageOf,
  statusOf,
  type Logger,
} from '@pushprox/shared';
import type { Coordinator, PollEndReason } from './coordinator.js';
import { MAX_POLL_BODY_BYTES, parseFqdn } from './fqdn.js';
import { sendText } from './respond.js';
import { headerOf, readSmallBody } from './body.js';
import { forbidden, type ClientAuthenticator } from './client-auth.js';

/** Every poll reply names our features; upstream clients ignore the header. */
const FEATURES = { [HEADER_PROXY_FEATURES]: `${FEATURE_MULTI_POLL}, ${FEATURE_IDLE_REPLY}` };

function parseCapacity(raw: string | undefined): number | undefined {
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

/** POST /poll: the body is the client's FQDN; the reply is a scrape request. */
export function createPollHandler(coordinator: Coordinator, logger: Logger, authn: ClientAuthenticator) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let fqdn: string;
    let capacity: number | undefined;
    try {
      const identity = authn.identify(req);
      capacity = parseCapacity(headerOf(req, HEADER_POLL_CAPACITY));
      fqdn = parseFqdn(await readSmallBody(req, MAX_POLL_BODY_BYTES, 'poll'));
      // Identity-bound FQDNs: a client may only take the scrapes of the names it was given.
      if (!identity.allows(fqdn)) throw forbidden(identity, fqdn);
    } catch (err) {
      logger.warn('Bad poll', { err: messageOf(err), remote: req.socket.remoteAddress });
      // The rest of an oversized body is not read: close the connection after the answer.
      sendText(res, statusOf(err), `Error polling: ${messageOf(err)}`, { ...FEATURES, Connection: 'close' });
      return;
    }
    if (logger.debugEnabled) logger.debug('Poll', { fqdn, capacity });
    const ticket = coordinator.poll(
      fqdn,
      { capacity, hello: capacity !== undefined && headerOf(req, HEADER_HELLO) !== undefined },
      {
        deliver: (job) => {
          if (res.destroyed || res.headersSent) return false;
          res.writeHead(200, {
            'Content-Type': 'text/plain; charset=utf-8',
            'Content-Length': job.request.length,
            ...FEATURES,
          });
          res.end(job.request);
          if (logger.debugEnabled) logger.debug('Responded to /poll', { fqdn, scrape_id: job.id });
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
      },
    );
    // The client went away: forget its poll now, so no scrape is handed to it.
    res.on('close', () => ticket.cancel());
    if (res.destroyed) ticket.cancel();
  };
}
