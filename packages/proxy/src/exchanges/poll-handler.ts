import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  CHANNEL_PROTOCOL,
  ERROR_CODES,
  HEADER_CHANNEL,
  HEADER_HELLO,
  HEADER_POLL_CAPACITY,
  codeOf,
  messageOf,
  PushProxError,
  statusOf,
  type Logger,
} from '@pushprox/shared';
import { WarnAggregator } from '../warn-aggregator.js';
import type { Coordinator } from '../routing/coordinator.js';
import { MAX_POLL_BODY_BYTES, parseFqdn } from './fqdn.js';
import { sendTextAndClose } from '../listeners/respond.js';
import { headerOf, readSmallBody } from '../listeners/body.js';
import { forbidden, type ClientAuthenticator } from '../auth/client-auth.js';
import { clientMetaOf } from './client-meta.js';
import { FEATURES, parseCapacity, PollReply, waitForScrape, type Observe } from './poll-wait.js';

export interface PollHandlerDeps {
  readonly coordinator: Coordinator;
  readonly logger: Logger;
  readonly authn: ClientAuthenticator;
  /** Counts and times a /poll response once it was written in full (upstream's path metrics). */
  readonly observe: Observe;
  /** Answers a request whose handling threw unexpectedly. */
  readonly fail: (err: unknown, res: ServerResponse) => void;
}

/** POST /poll: the body is the client's FQDN; the reply is a scrape request. */
export function createPollHandler(deps: PollHandlerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { coordinator, logger, authn } = deps;
  // A refused poll is whatever anyone who reaches the client port sends: one line per source, then a count a minute.
  const badPolls = new WarnAggregator({ logger, msg: 'Bad poll' });
  const handle = async (req: IncomingMessage, res: ServerResponse, reply: PollReply): Promise<void> => {
    let fqdn: string;
    let capacity: number | undefined;
    let meta: ReturnType<typeof clientMetaOf>;
    try {
      const identity = authn.identify(req);
      // A channel request reaches a plain handler only when something on the way (a reverse
      // or forward proxy) dropped its Upgrade: say so, rather than "empty FQDN".
      // (Node takes a request as an upgrade only with both "Connection: Upgrade" and "Upgrade".)
      const channelFqdn = headerOf(req, HEADER_CHANNEL);
      if (channelFqdn !== undefined) {
        const missing = headerOf(req, 'upgrade') === undefined ? `Upgrade: ${CHANNEL_PROTOCOL}` : 'Connection: Upgrade';
        throw new PushProxError(
          ERROR_CODES.CHANNEL_PROTOCOL,
          `channel request for ${JSON.stringify(channelFqdn.slice(0, 64))} arrived without "${missing}": ` +
            'a proxy between client and proxy dropped the upgrade',
        );
      }
      capacity = parseCapacity(headerOf(req, HEADER_POLL_CAPACITY));
      meta = clientMetaOf(req, coordinator);
      fqdn = parseFqdn(await readSmallBody(req, MAX_POLL_BODY_BYTES, 'poll'));
      // Identity-bound FQDNs: a client may only take the scrapes of the names it was given.
      if (!identity.allows(fqdn)) throw forbidden(identity, fqdn);
      coordinator.admit(fqdn);
    } catch (err) {
      // A refused registration is logged (aggregated) where it is counted: see CoordinatorOptions.onRegistrationRefused.
      if (codeOf(err) !== ERROR_CODES.REGISTRATION_FULL) badPolls.note(req.socket.remoteAddress ?? 'unknown', { err: messageOf(err) });
      // The rest of an oversized body is not read: close the connection after the answer.
      sendTextAndClose(res, statusOf(err), `Error polling: ${messageOf(err)}`, FEATURES);
      return;
    }
    reply.capacity = capacity;
    if (logger.debugEnabled) logger.debug('Poll', { fqdn, capacity });
    const hello = capacity !== undefined && headerOf(req, HEADER_HELLO) !== undefined;
    waitForScrape(coordinator, res, reply, { fqdn, capacity, hello, meta });
  };
  return (req, res) => {
    handle(req, res, new PollReply(res, deps.observe, logger)).catch((err: unknown) => deps.fail(err, res));
  };
}
