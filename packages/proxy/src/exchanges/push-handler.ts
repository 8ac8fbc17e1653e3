import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ERROR_CODES,
  HEADER_POLL_CAPACITY,
  HEADER_PUSH_POLL,
  PATH_POLL,
  PushProxError,
  WireError,
  messageOf,
  statusOf,
  type Logger,
} from '@pushprox/shared';
import { sendTextAndClose } from '../listeners/respond.js';
import { forbidden, type ClientAuthenticator, type ClientIdentity } from '../auth/client-auth.js';
import { headerOf, readWholeBody } from '../listeners/body.js';
import { parseFqdn } from './fqdn.js';
import { clientMetaOf } from './client-meta.js';
import { parseCapacity, waitAfterPush, type WaitOptions } from './poll-wait.js';
import type { Coordinator } from '../routing/coordinator.js';
import { failRefusedScrape, readPushedId } from './refused-push.js';
import { relayPushed, relayWholePushed, WHOLE_PUSH_BYTES, type PushRelayDeps } from './push-relay.js';

/**
 * The poll a push asks for (HEADER_PUSH_POLL), or undefined. A bad one is
 * not the push's fault: the push is still relayed and answered plainly, and
 * the client's next /poll gets the error.
 */
function pushPollOf(req: IncomingMessage, identity: ClientIdentity, coordinator: Coordinator, logger: Logger): WaitOptions | undefined {
  const raw = headerOf(req, HEADER_PUSH_POLL);
  if (raw === undefined) return undefined;
  try {
    const fqdn = parseFqdn(raw);
    if (!identity.allows(fqdn)) throw forbidden(identity, fqdn);
    coordinator.admit(fqdn);
    const meta = clientMetaOf(req, coordinator);
    return { fqdn, capacity: parseCapacity(headerOf(req, HEADER_POLL_CAPACITY)) ?? 1, meta };
  } catch (err) {
    logger.warn('Ignored the poll asked for on a push', { err: messageOf(err), remote: req.socket.remoteAddress });
    return undefined;
  }
}

/**
 * Ends the measured request as a success now and measures the rest of the
 * response under `path`: a push-and-poll counts as a /push when the pushed
 * response has been relayed, then as a /poll, so both series keep
 * upstream's meaning.
 */
export type Relabel = (path: string) => void;

export interface PushHandlerOptions extends PushRelayDeps {
  readonly authn: ClientAuthenticator;
}

/**
 * POST /push: the body is the scrape's full HTTP response. It is parsed as it
 * streams and its body is relayed to the waiting Prometheus request with
 * backpressure; the push is answered (200, empty, as upstream) once the whole
 * body has been passed on. A push that asks for it (HEADER_PUSH_POLL) is
 * then answered as a poll.
 */
export function createPushHandler(opts: PushHandlerOptions) {
  const { coordinator, logger } = opts;
  return async (req: IncomingMessage, res: ServerResponse, relabel?: Relabel): Promise<void> => {
    try {
      const identity = opts.authn.identify(req);
      const pushPoll = pushPollOf(req, identity, coordinator, logger);
      const declared = Number(req.headers['content-length']);
      const tooLarge = (): WireError =>
        new WireError(
          ERROR_CODES.WIRE_BODY_TOO_LARGE,
          `pushed response of ${declared} bytes exceeds --push.max-body-size (${opts.maxBodyBytes} bytes)`,
        );
      if (declared > opts.maxBodyBytes) {
        const refused = tooLarge();
        // Prometheus learns of the refusal now, not at its deadline.
        failRefusedScrape(coordinator, await readPushedId(req), identity, new PushProxError(ERROR_CODES.PUSH_ABORTED, refused.message));
        throw refused;
      }
      // Node's parser passes on exactly Content-Length bytes: a small declared body is read whole.
      if (declared <= WHOLE_PUSH_BYTES && req.headers['transfer-encoding'] === undefined) {
        await relayWholePushed(await readWholeBody(req, WHOLE_PUSH_BYTES, tooLarge, 'push'), identity, opts);
      } else {
        await relayPushed(req, identity, opts);
      }
      if (pushPoll) {
        relabel?.(PATH_POLL);
        return waitAfterPush(coordinator, res, pushPoll, logger);
      }
      res.writeHead(200, { 'Content-Length': 0 });
      res.end();
    } catch (err) {
      logger.warn('Error pushing', { err: messageOf(err), remote: req.socket.remoteAddress });
      // The rest of the pushed body is not read: close the connection after the answer.
      sendTextAndClose(res, statusOf(err), `Error pushing: ${messageOf(err)}`);
    }
  };
}
