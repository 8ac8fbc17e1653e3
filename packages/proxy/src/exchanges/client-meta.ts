import type { IncomingMessage } from 'node:http';
import { HEADER_CLIENT_META } from '@pushprox/shared';
import type { Coordinator, ReceivedMeta } from '../routing/coordinator.js';

/**
 * The X-Pushprox-Client-Meta of a /poll, channel upgrade or push-and-poll,
 * or undefined when absent (an upstream client). A bad value throws
 * ClientMetaError (400, CLIENT_META_INVALID) whose message names the header
 * and the fault: the edge refuses the poll rather than register a client
 * whose discovery labels would silently be wrong. (Node joins a repeated
 * header with ", ", which is not base64url, so two values are refused too.)
 */
export function clientMetaOf(req: IncomingMessage, coordinator: Coordinator): ReceivedMeta | undefined {
  const v = req.headers[HEADER_CLIENT_META.toLowerCase()];
  const raw = Array.isArray(v) ? v.join(', ') : v;
  if (raw === undefined) return undefined;
  try {
    return coordinator.decodeMeta(raw);
  } catch (err) {
    if (err instanceof Error && !err.message.includes(HEADER_CLIENT_META)) err.message = `${HEADER_CLIENT_META}: ${err.message}`;
    throw err;
  }
}
