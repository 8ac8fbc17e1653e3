import type { Clock } from '../routing/clock.js';
import type { PresenceMessage } from '@pushprox/shared';

/** Most remote (FQDN, proxy) entries held; announcements beyond are dropped and counted. */
export const MAX_REMOTE_ENTRIES = 500_000;
/** Most proxies tracked (direct clients apart); a presence message from one more is dropped until one expires. */
export const MAX_PEERS = 256;

interface Holding {
  /** clock.now() after which the entry is stale. */
  expiresAt: number;
  /** clock.now() of the last announcement that it waits there (not a refresh): the most recent holder wins. */
  seenAt: number;
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
    for (const name of msg.fqdns) {
      const key = name.toLowerCase();
      const holders = this.#byFqdn.get(key);
      if (msg.kind === 'del') {
        if (holders?.delete(msg.proxy)) this.#forget(key, holders, msg.proxy);
        continue;
      }
      const h = holders?.get(msg.proxy);
      if (h) {
        h.expiresAt = now + msg.ttlMs;
        if (!msg.refresh) h.seenAt = now;
        continue;
      }
      if (this.#entries >= MAX_REMOTE_ENTRIES || (!direct && !this.#peers.has(msg.proxy) && this.proxies >= MAX_PEERS)) {
        this.dropped++;
        continue;
      }
      let map = holders;
      if (!map) this.#byFqdn.set(key, (map = new Map()));
      if (name !== key) this.#spelling.set(key, name);
      // Registered there but not waiting: ranked below every holder it waits at.
      map.set(msg.proxy, { expiresAt: now + msg.ttlMs, seenAt: msg.refresh ? -Infinity : now });
      this.#peers.set(msg.proxy, (this.#peers.get(msg.proxy) ?? 0) + 1);
      this.#entries++;
    }
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
    this.#entries = 0;
  }

  #forget(key: string, holders: Map<string, Holding>, proxy: string): void {
    this.#entries--;
    const n = (this.#peers.get(proxy) ?? 1) - 1;
    if (n === 0) {
      this.#peers.delete(proxy);
      this.#direct.delete(proxy);
    }
    else this.#peers.set(proxy, n);
    if (holders.size === 0) {
      this.#byFqdn.delete(key);
      this.#spelling.delete(key);
    }
  }
}
