import { PRESENCE_BATCH, PRESENCE_MAX_BYTES, type PresenceClient, type PresenceMessage, type PresenceTransport } from '@pushprox/shared';

/** What this proxy says about one of its clients in presence. */
export interface ClientDescription {
  /** Its X-Pushprox-Client-Meta value as received; undefined: it sent none. */
  readonly meta: string | undefined;
  readonly transport: PresenceTransport | undefined;
}

type Base = Omit<PresenceMessage, 'fqdns' | 'meta' | 'clients'>;

/** Upper bound of one PresenceClient's JSON and its comma (`{"m":123456,"t":"upstream"},`). */
const CLIENT_JSON_MAX = 32;

/**
 * Cuts an announcement of `names` into presence messages of at most
 * PRESENCE_BATCH names and PRESENCE_MAX_BYTES bytes each. With `describe`
 * (`add` only), each message carries its clients' metadata values, each
 * distinct value once per message, and their transports. Invariant: every
 * name is in exactly one message, in order; a message over the byte bound
 * holds one name only (it cannot: an entry is at most about 17 KiB).
 */
export function presenceBatches(base: Base, names: readonly string[], describe?: (name: string) => ClientDescription): Buffer[] {
  const out: Buffer[] = [];
  const overhead = Buffer.byteLength(JSON.stringify({ ...base, fqdns: [], meta: [], clients: [] }));
  let fqdns: string[] = [];
  let clients: PresenceClient[] = [];
  let meta: string[] = [];
  let index = new Map<string, number>();
  let bytes = overhead;
  const flush = (): void => {
    const msg: PresenceMessage = describe ? { ...base, fqdns, meta, clients } : { ...base, fqdns };
    out.push(Buffer.from(JSON.stringify(msg)));
    fqdns = [];
    clients = [];
    meta = [];
    index = new Map();
    bytes = overhead;
  };
  const costOf = (name: string, d: ClientDescription | undefined): number =>
    Buffer.byteLength(JSON.stringify(name)) + 1 + (d ? CLIENT_JSON_MAX + (d.meta !== undefined && !index.has(d.meta) ? d.meta.length + 3 : 0) : 0);
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
    let m: number | undefined;
    if (d.meta !== undefined) {
      m = index.get(d.meta);
      if (m === undefined) {
        m = meta.push(d.meta) - 1;
        index.set(d.meta, m);
      }
    }
    clients.push({ ...(m !== undefined && { m }), ...(d.transport && { t: d.transport }) });
  }
  if (fqdns.length > 0 || base.kind === 'bye') flush();
  return out;
}
