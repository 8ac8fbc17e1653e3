import type { Clock } from '../routing/clock.js';
import { ClientMetaStore } from '../routing/client-meta-store.js';
import { EMPTY_CLIENT_META, PRESENCE_TRANSPORT_CODES, type ClientMeta, type PresenceMessage, type PresenceTransport } from '@pushprox/shared';

/** Most remote (FQDN, proxy) entries held; announcements beyond are dropped and counted. */
export const MAX_REMOTE_ENTRIES = 500_000;
/** Most proxies tracked (direct clients apart); a presence message from one more is dropped until one expires. */
export const MAX_PEERS = 256;

interface Holding {
  /** clock.now() after which the entry is stale. */
  expiresAt: number;
  /** clock.now() of the last announcement that it waits there (not a refresh): the most recent holder wins. */
  seenAt: number;
  /** clock.now() of its first announcement by this holder ("connected since"). */
  readonly since: number;
  /** As the holder announced it; undefined from a peer that sends FQDNs only. */
  transport: PresenceTransport | undefined;
  /** As the holder announced it (the interned copy held in PeerTable's store). */
  meta: ClientMeta;
}

/** One client of the fleet as its most recent holder announced it. */
export interface RemoteClient {
  /** The FQDN as announced. */
  readonly name: string;
  /** The holder's id, and its name for people ('' when it sent none). */
  readonly proxy: string;
  readonly proxyName: string;
  /** Whether the holder is the client itself, on NATS directly. */
  readonly direct: boolean;
  readonly meta: ClientMeta;
  readonly transport: PresenceTransport | undefined;
  readonly since: number;
  readonly seenAt: number;
}

/**
 * What the other proxies announced they hold. Invariants: an entry lives at
 * most its announced TTL after its last announcement (a dead proxy's names
 * vanish by themselves); the table never holds more than MAX_REMOTE_ENTRIES
 * entries nor MAX_PEERS peers. No NATS here: presence.ts feeds it.
 */
export class PeerTable {
  readonly #clock: Clock;
  readonly #selfId: string;
  /** lower-cased FQDN → proxy id → holding. */
  readonly #byFqdn = new Map<string, Map<string, Holding>>();
  /** lower-cased FQDN → the spelling announced (only where it differs). */
  readonly #spelling = new Map<string, string>();
  /** proxy id → entries it holds. */
  readonly #peers = new Map<string, number>();
  /** Ids that announced themselves as clients on NATS directly (PresenceMessage.direct). */
  readonly #direct = new Set<string>();
  /** proxy id → its name for people; only for peers with entries. */
  readonly #names = new Map<string, string>();
  /** Each entry's metadata, keyed `fqdn \n proxy`: interned and byte-bounded like the local clients' (one copy per distinct value). */
  #meta = new ClientMetaStore();
  #entries = 0;
  /** Announced names dropped because a bound was reached. */
  dropped = 0;

  constructor(clock: Clock, selfId: string) {
    this.#clock = clock;
    this.#selfId = selfId;
  }

  apply(msg: PresenceMessage): void {
    if (msg.proxy === this.#selfId) return;
    if (msg.kind === 'bye') return this.dropPeer(msg.proxy);
    // Direct clients are many (one per host): bounded by MAX_REMOTE_ENTRIES, not MAX_PEERS.
    if (msg.direct && msg.kind === 'add' && this.#direct.size < MAX_REMOTE_ENTRIES) this.#direct.add(msg.proxy);
    const direct = this.#direct.has(msg.proxy);
    const now = this.#clock.now();
    msg.fqdns.forEach((name, i) => {
      const key = name.toLowerCase();
      const holders = this.#byFqdn.get(key);
      if (msg.kind === 'del') {
        if (holders?.delete(msg.proxy)) this.#forget(key, holders, msg.proxy);
        return;
      }
      const h = holders?.get(msg.proxy);
      if (h) {
        h.expiresAt = now + msg.ttlMs;
        if (!msg.refresh) h.seenAt = now;
        if (msg.transports !== undefined) this.#describe(key, msg.proxy, h, msg, i);
        return;
      }
      if (this.#entries >= MAX_REMOTE_ENTRIES || (!direct && !this.#peers.has(msg.proxy) && this.proxies >= MAX_PEERS)) {
        this.dropped++;
        return;
      }
      let map = holders;
      if (!map) this.#byFqdn.set(key, (map = new Map()));
      if (name !== key) this.#spelling.set(key, name);
      // Registered there but not waiting: ranked below every holder it waits at.
      const entry: Holding = { expiresAt: now + msg.ttlMs, seenAt: msg.refresh ? -Infinity : now, since: now, transport: undefined, meta: EMPTY_CLIENT_META };
      map.set(msg.proxy, entry);
      if (msg.transports !== undefined) this.#describe(key, msg.proxy, entry, msg, i);
      this.#peers.set(msg.proxy, (this.#peers.get(msg.proxy) ?? 0) + 1);
      this.#entries++;
    });
    if (msg.kind === 'add' && !direct && msg.name !== undefined && this.#peers.has(msg.proxy)) this.#names.set(msg.proxy, msg.name);
  }

  /**
   * Records what the holder says about the client. A value that does not
   * decode, or that the byte budget cannot hold, leaves the client listed
   * without labels or modules (as from a peer that sends FQDNs only).
   */
  #describe(key: string, proxy: string, h: Holding, msg: PresenceMessage, i: number): void {
    h.transport = PRESENCE_TRANSPORT_CODES[msg.transports![i]!];
    const m = msg.metaOf?.[i] ?? -1;
    const raw = m < 0 ? undefined : msg.meta?.[m];
    const metaKey = `${key}\n${proxy}`;
    h.meta = EMPTY_CLIENT_META;
    if (raw === undefined) return this.#meta.delete(metaKey);
    try {
      if (this.#meta.set(metaKey, this.#meta.decode(raw))) h.meta = this.#meta.get(metaKey);
    } catch {
      this.#meta.delete(metaKey);
    }
  }

  /**
   * The fleet's clients held elsewhere, each once (as holderOf picks its
   * holder), with what that holder announced about it.
   */
  clients(): RemoteClient[] {
    this.sweep();
    const now = this.#clock.now();
    const out: RemoteClient[] = [];
    for (const [key, holders] of this.#byFqdn) {
      let best: [string, Holding] | undefined;
      for (const [proxy, h] of holders) {
        if (h.expiresAt < now) continue;
        if (best === undefined || h.seenAt > best[1].seenAt) best = [proxy, h];
      }
      if (!best) continue;
      const [proxy, h] = best;
      out.push({
        name: this.#spelling.get(key) ?? key,
        proxy,
        proxyName: this.#names.get(proxy) ?? '',
        direct: this.#direct.has(proxy),
        meta: h.meta,
        transport: h.transport,
        since: h.since,
        seenAt: h.seenAt,
      });
    }
    return out;
  }

  /** Whether some remote entry has labels or modules. */
  get hasClientMeta(): boolean {
    return !this.#meta.empty;
  }

  /** What the holder of `key` (holderOf) announced about it; empty when unknown. */
  metaOf(key: string): ClientMeta {
    const proxy = this.holderOf(key);
    return (proxy === undefined ? undefined : this.#byFqdn.get(key)?.get(proxy)?.meta) ?? EMPTY_CLIENT_META;
  }

  /**
   * The proxy to forward a scrape for `key` to: among live holders, the one
   * that announced it last (a client that moved is found at its new proxy
   * while the old entry expires). `except` skips peers already tried.
   */
  holderOf(key: string, except?: ReadonlySet<string>): string | undefined {
    const holders = this.#byFqdn.get(key);
    if (!holders) return undefined;
    const now = this.#clock.now();
    let best: string | undefined;
    let bestSeen = -Infinity;
    for (const [proxy, h] of holders) {
      if (h.expiresAt < now || except?.has(proxy)) continue;
      if (best === undefined || h.seenAt > bestSeen) {
        best = proxy;
        bestSeen = h.seenAt;
      }
    }
    return best;
  }

  /** A peer said goodbye, or no longer answers: forget all it held. */
  dropPeer(proxy: string): void {
    if (!this.#peers.has(proxy)) return;
    for (const [key, holders] of this.#byFqdn) if (holders.delete(proxy)) this.#forget(key, holders, proxy);
  }

  /** Drops expired entries. */
  sweep(): void {
    const now = this.#clock.now();
    for (const [key, holders] of this.#byFqdn) {
      for (const [proxy, h] of holders) if (h.expiresAt < now && holders.delete(proxy)) this.#forget(key, holders, proxy);
    }
  }

  /** Names some live peer holds (announced spelling), unsorted. */
  names(): string[] {
    this.sweep();
    const out: string[] = [];
    for (const key of this.#byFqdn.keys()) out.push(this.#spelling.get(key) ?? key);
    return out;
  }

  /** Whether `holder` is a client on NATS directly (forwards go to its FQDN's subject). */
  isDirect(holder: string): boolean {
    return this.#direct.has(holder);
  }

  /** Peers (proxies and direct clients) with at least one live entry. */
  get peers(): number {
    return this.#peers.size;
  }

  /** Proxies (not direct clients) with at least one live entry. */
  get proxies(): number {
    let n = 0;
    for (const id of this.#peers.keys()) if (!this.#direct.has(id)) n++;
    return n;
  }

  get entries(): number {
    return this.#entries;
  }

  /** Forgets everything (NATS lost: no peer can be reached). */
  clear(): void {
    this.#byFqdn.clear();
    this.#spelling.clear();
    this.#peers.clear();
    this.#direct.clear();
    this.#names.clear();
    this.#meta = new ClientMetaStore();
    this.#entries = 0;
  }

  #forget(key: string, holders: Map<string, Holding>, proxy: string): void {
    this.#entries--;
    this.#meta.delete(`${key}\n${proxy}`);
    const n = (this.#peers.get(proxy) ?? 1) - 1;
    if (n === 0) {
      this.#peers.delete(proxy);
      this.#direct.delete(proxy);
      this.#names.delete(proxy);
    }
    else this.#peers.set(proxy, n);
    if (holders.size === 0) {
      this.#byFqdn.delete(key);
      this.#spelling.delete(key);
    }
  }
}
