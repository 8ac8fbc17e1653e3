import { PRESENCE_BATCH, PRESENCE_MAX_BYTES, type PresenceMessage, type PresenceTransport } from '@pushprox/shared';

/** What this proxy says about one of its clients in presence. */
export interface ClientDescription {
  /** Its X-Pushprox-Client-Meta value as received; undefined: it sent none. */
  readonly meta: string | undefined;
  readonly transport: PresenceTransport | undefined;
}

type Base = Omit<PresenceMessage, 'fqdns' | 'meta' | 'metaOf' | 'transports'>;

const TRANSPORT_CODE: Readonly<Record<PresenceTransport, string>> = { channel: 'c', polling: 'p', upstream: 'u' };

/** Upper bound of one client's share of `metaOf` (`123456,`) and `transports` (one character). */
const CLIENT_BYTES_MAX = 8;

/**
 * Cuts an announcement of `names` into presence messages of at most
 * PRESENCE_BATCH names and PRESENCE_MAX_BYTES bytes each. With `describe`
 * (`add` only), each message carries its clients' transports and, when any
 * has some, their metadata: each distinct value once per message. Invariant:
 * every name is in exactly one message, in order; one entry (an FQDN of 255
 * bytes and a 16 KiB metadata value) always fits a message.
 */
export function presenceBatches(base: Base, names: readonly string[], describe?: (name: string) => ClientDescription): Buffer[] {
  const out: Buffer[] = [];
  const overhead = Buffer.byteLength(JSON.stringify({ ...base, fqdns: [], meta: [], metaOf: [], transports: '' }));
  let fqdns: string[] = [];
  let metaOf: number[] = [];
  let transports = '';
  let meta: string[] = [];
  let index = new Map<string, number>();
  let bytes = overhead;
  const flush = (): void => {
    let msg: PresenceMessage = { ...base, fqdns };
    if (describe) msg = meta.length > 0 ? { ...msg, meta, metaOf, transports } : { ...msg, transports };
    out.push(Buffer.from(JSON.stringify(msg)));
    fqdns = [];
    metaOf = [];
    transports = '';
    meta = [];
    index = new Map();
    bytes = overhead;
  };
  const costOf = (name: string, d: ClientDescription | undefined): number =>
    Buffer.byteLength(JSON.stringify(name)) + 1 + (d ? CLIENT_BYTES_MAX + (d.meta !== undefined && !index.has(d.meta) ? d.meta.length + 3 : 0) : 0);
  for (const name of names) {
    const d = describe?.(name);
    let cost = costOf(name, d);
    if (fqdns.length > 0 && (fqdns.length >= PRESENCE_BATCH || bytes + cost > PRESENCE_MAX_BYTES)) {
      flush();
      cost = costOf(name, d);
    }
    fqdns.push(name);
    bytes += cost;
    if (!d) continue;
    transports += d.transport ? TRANSPORT_CODE[d.transport] : '-';
    let m = -1;
    if (d.meta !== undefined) {
      m = index.get(d.meta) ?? -1;
      if (m < 0) {
        m = meta.push(d.meta) - 1;
        index.set(d.meta, m);
      }
    }
    metaOf.push(m);
  }
  if (fqdns.length > 0 || base.kind === 'bye') flush();
  return out;
}
