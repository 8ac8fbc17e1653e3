import type { Readable } from 'node:stream';
import { HEADER_ID, parseResponseHead, type PushProxError } from '@pushprox/shared';
import type { Coordinator } from '../routing/coordinator.js';
import type { ClientIdentity } from '../auth/client-auth.js';

/** Most bytes of a refused push read to find its Id: a pushed head is far smaller. */
export const REFUSED_HEAD_BYTES = 64 * 1024;
/** Longest wait for those bytes; the refusal is answered either way. */
const REFUSED_HEAD_MS = 2_000;

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/**
 * The Id header of a pushed response whose head starts `source`, reading at
 * most REFUSED_HEAD_BYTES for at most 2 s; undefined if no valid head with an
 * Id shows (it is parsed by the same strict codec as every push). Bytes read
 * are dropped: this serves only a push already refused (over
 * --push.max-body-size), whose scrape should fail now with the reason rather
 * than at its deadline.
 */
export function readPushedId(source: Readable): Promise<string | undefined> {
  return new Promise((resolve) => {
    let head = Buffer.alloc(0);
    const done = (id: string | undefined): void => {
      clearTimeout(timer);
      source.off('data', onData).off('end', onEnd).off('error', onEnd).off('close', onEnd);
      source.pause();
      resolve(id);
    };
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk.subarray(0, REFUSED_HEAD_BYTES - head.length)]);
      const end = head.indexOf(HEAD_END);
      if (end >= 0) return done(idOf(head.subarray(0, end + HEAD_END.length)));
      if (head.length >= REFUSED_HEAD_BYTES) done(undefined);
    };
    const onEnd = (): void => done(undefined);
    const timer = setTimeout(onEnd, REFUSED_HEAD_MS);
    source.on('data', onData).on('end', onEnd).on('error', onEnd).on('close', onEnd);
  });
}

function idOf(head: Buffer): string | undefined {
  try {
    return parseResponseHead(head).headers.get(HEADER_ID);
  } catch {
    return undefined;
  }
}

/**
 * Fails scrape `id` with `err` now, if it waits for a push and `identity` may
 * answer it (a client cannot fail another's scrapes by naming their Ids).
 */
export function failRefusedScrape(coordinator: Coordinator, id: string | undefined, identity: ClientIdentity, err: PushProxError): void {
  if (id === undefined) return;
  const fqdn = coordinator.fqdnOf(id);
  if (fqdn !== undefined && identity.allows(fqdn)) coordinator.abandon(id, err);
}
