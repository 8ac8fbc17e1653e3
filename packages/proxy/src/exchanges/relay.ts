import { HOP_BY_HOP_HEADERS, INTERNAL_HEADERS, type WireHeaders } from '@pushprox/shared';

const DROPPED = new Set([...HOP_BY_HOP_HEADERS, ...INTERNAL_HEADERS]);

/**
 * Headers of a pushed response as Prometheus gets them: internal headers (Id,
 * both timeout spellings) and hop-by-hop ones removed (upstream leaked them);
 * everything else, Content-Encoding and Content-Type included, byte for byte.
 * Content-Length stays: the relayed body is exactly the decoded pushed body.
 */
export function relayHeaders(headers: WireHeaders): string[] {
  const out = headers.clone();
  out.deleteAll(DROPPED);
  return out.toRawArray();
}
