import type { Clock } from '../routing/clock.js';
import { ClientHistory, type ScrapeResult, type Transport } from './client-history.js';

export interface FleetHistoryOptions {
  readonly clock: Clock;
  /** Whether the registry still knows a lower-cased FQDN (ClientRegistry.isKnown). */
  readonly isKnown: (key: string) => boolean;
  /** Most clients kept (--registration.max-clients): the table never outgrows the registry. */
  readonly maxClients: number;
}

/**
 * Per-client scrape history for the status page and API. An entry exists
 * only for an FQDN that polled (a scrape for a name no client serves leaves
 * no trace), and lives as long as the registry knows the FQDN.
 * Invariant: at most maxClients entries; each is bounded (ClientHistory).
 */
export class FleetHistory {
  readonly #opts: FleetHistoryOptions;
  readonly #clients = new Map<string, ClientHistory>();
  /** clock.now() of the last sweep forced by a full table (at most one a second). */
  #sweptAt = -Infinity;
  #largestBody = 0;

  constructor(opts: FleetHistoryOptions) {
    this.#opts = opts;
  }

  /**
   * A poll or channel for `fqdn` arrived (admitted, before the registry
   * records it): an entry whose registration lapsed starts over.
   */
  polled(fqdn: string, transport: Transport): void {
    const key = fqdn.toLowerCase();
    const now = this.#opts.clock.now();
    let entry = this.#clients.get(key);
    if (entry && !this.#opts.isKnown(key)) {
      this.#clients.delete(key);
      entry = undefined;
    }
    if (entry) {
      entry.lastPollAt = now;
      entry.transport = transport;
      return;
    }
    if (this.#clients.size >= this.#opts.maxClients && !this.#makeRoom(now)) return;
    this.#clients.set(key, new ClientHistory(fqdn, now, transport));
  }

  /** A scrape routed to `fqdn` ended; ignored unless a client for it polled. */
  record(fqdn: string, result: Omit<ScrapeResult, 'at'>): void {
    const entry = this.#clients.get(fqdn.toLowerCase());
    if (!entry) return;
    entry.record({ ...result, at: this.#opts.clock.now() });
    if (result.bytes > this.#largestBody) this.#largestBody = result.bytes;
  }

  /** The largest body relayed to a registered client's scrape since start. */
  get largestBody(): number {
    return this.#largestBody;
  }

  get(fqdn: string): ClientHistory | undefined {
    const entry = this.#clients.get(fqdn.toLowerCase());
    return entry && this.#opts.isKnown(fqdn.toLowerCase()) ? entry : undefined;
  }

  /** Every client the registry still knows, after dropping the others. */
  all(): ClientHistory[] {
    this.#sweep();
    return [...this.#clients.values()];
  }

  get size(): number {
    return this.#clients.size;
  }

  #makeRoom(now: number): boolean {
    if (now - this.#sweptAt < 1_000) return false;
    this.#sweptAt = now;
    this.#sweep();
    return this.#clients.size < this.#opts.maxClients;
  }

  #sweep(): void {
    for (const key of this.#clients.keys()) if (!this.#opts.isKnown(key)) this.#clients.delete(key);
  }
}
