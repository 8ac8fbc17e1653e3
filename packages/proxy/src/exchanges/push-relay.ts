import type { Readable } from 'node:stream';
import {
  ERROR_CODES,
  HEADER_ID,
  PushProxError,
  WireError,
  messageOf,
  parseResponse,
  readResponse,
  type Logger,
  type ResponseHead,
} from '@pushprox/shared';
import type { Coordinator } from '../routing/coordinator.js';
import type { Responders } from './scrape-handler.js';
import { forbidden, type ClientIdentity } from '../auth/client-auth.js';

export interface PushRelayDeps {
  readonly coordinator: Coordinator;
  readonly responders: Responders;
  readonly logger: Logger;
  /** Largest pushed message (head and body). */
  readonly maxBodyBytes: number;
  /** Pushes for Ids this proxy never handed out go here (the cluster); default: refused as unknown. */
  readonly remotePush?: RemotePush;
}

/**
 * Relays a push whose Id another proxy handed out to that proxy (behind a
 * load balancer a client's push may reach another proxy than its poll).
 * Rejects with PUSH_UNKNOWN_ID when no proxy owns the Id.
 */
export interface RemotePush {
  relay(head: ResponseHead, body: Readable | Buffer, identity: ClientIdentity): Promise<void>;
}

/**
 * A push of at most this many bytes is read whole before any of it is relayed
 * (relayWholePushed: no streams, one write to Prometheus); a longer one
 * streams. Holding that much back costs no more memory than streaming it
 * through a 64 KiB buffer.
 */
export const WHOLE_PUSH_BYTES = 64 * 1024;

/**
 * Relays one pushed response (a /push body, or a channel's DATA) to the
 * Prometheus request waiting for it: parses it as it streams and passes its
 * body on with backpressure; resolves once the whole body has been passed on.
 * Throws (and completes a claimed scrape) if the push is refused or the
 * relay fails; the caller answers the client.
 */
export async function relayPushed(source: Readable, identity: ClientIdentity, deps: PushRelayDeps): Promise<void> {
  const { head, body } = await readResponse(source, { maxBodyBytes: deps.maxBodyBytes });
  return answerPushed(head, body, identity, deps);
}

/**
 * relayPushed for a pushed message already whole in hand (a small push: its
 * whole /push body, or every DATA and the END of a channel's). The same
 * checks and errors; `pieces` are its bytes in order, which Prometheus gets in
 * one write. Invariant: parsed as one buffer, so a message that ends early or
 * carries bytes after its framed end is refused before anything is relayed.
 */
export async function relayWholePushed(pieces: readonly Buffer[], identity: ClientIdentity, deps: PushRelayDeps): Promise<void> {
  const message = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
  const { head, body } = parseResponse(message, { maxBodyBytes: deps.maxBodyBytes });
  return answerPushed(head, body, identity, deps);
}

/** The checks and relay of a parsed push; exported for a push another proxy passed on (cluster/push-intake.ts). */
export async function answerPushed(head: ResponseHead, body: Readable | Buffer, identity: ClientIdentity, deps: PushRelayDeps): Promise<void> {
  const { coordinator, responders, logger } = deps;
  let claimedId: string | undefined;
  try {
    // A 1xx is interim (RFC 9110 §15.2): relayed, it would leave Prometheus waiting for a final response.
    if (head.status < 200) {
      throw new WireError(
        ERROR_CODES.WIRE_MALFORMED_START_LINE,
        `expected the pushed response to have a final status (200 to 999), got ${head.status}`,
      );
    }
    const id = head.headers.get(HEADER_ID);
    if (!id) {
      throw new PushProxError(ERROR_CODES.PUSH_MISSING_ID, `expected an ${HEADER_ID} header in the pushed response, found none`);
    }
    if (deps.remotePush && !coordinator.knows(id)) return await deps.remotePush.relay(head, body, identity);
    // A push answers only a scrape routed to an FQDN its sender may act for: no forged Ids.
    const routedTo = coordinator.fqdnOf(id);
    if (routedTo !== undefined && !identity.allows(routedTo)) throw forbidden(identity, routedTo);
    const job = coordinator.claim(id);
    claimedId = id;
    const respond = responders.get(id);
    if (!respond) {
      throw new PushProxError(ERROR_CODES.PUSH_EXPIRED_ID, `scrape ${JSON.stringify(id)} is no longer waiting`);
    }
    if (logger.debugEnabled) logger.debug('Got /push', { scrape_id: id, fqdn: job.fqdn, status: head.status });
    try {
      await respond({ head, body });
    } catch (err) {
      // A bad pushed body keeps its own code; anything else is the relay failing.
      if (err instanceof PushProxError) throw err;
      throw new PushProxError(
        ERROR_CODES.PUSH_ABORTED,
        `relaying the response of scrape ${JSON.stringify(id)} failed: ${messageOf(err)}`,
        { cause: err },
      );
    }
  } catch (err) {
    if (claimedId !== undefined) coordinator.complete(claimedId);
    throw err;
  }
}
