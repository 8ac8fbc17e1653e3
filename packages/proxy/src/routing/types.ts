import type { PushProxError } from '@pushprox/shared';
import type { ReceivedMeta } from './client-meta-store.js';

/**
 * The routing state's contracts with the edges that wait on it: a poll
 * (PollSink), a scrape (ScrapeSink), and the tickets that cancel them. Kept
 * apart from coordinator.ts so the poll lists can use them without an import
 * cycle.
 */

/** What a waiting poll is told. Implemented by the /poll handler. */
export interface PollSink {
  /** Hand over a scrape. Returns false if the poll's connection is already gone. */
  deliver(scrape: ScrapeJob): boolean;
  /**
   * The poll ends without work: `expired` when a newer poll for the same FQDN
   * replaced it (upstream: 408), `idle` when nothing came within the idle
   * timeout (only for clients that declared a capacity, or that said hello),
   * `shutdown` when the proxy stops.
   */
  end(reason: PollEndReason): void;
}

export type PollEndReason = 'expired' | 'idle' | 'shutdown';

/** What a scrape is told. Implemented by the scrape handler. */
export interface ScrapeSink {
  /** The deadline passed (before or after the client picked the scrape up). */
  fail(err: PushProxError): void;
  /**
   * While no client had taken it, another proxy announced that the client
   * waits there: the scrape left this coordinator (its deadline timer is
   * stopped) and the edge forwards it to `peer`. Without it, the scrape keeps
   * waiting here.
   */
  moved?(peer: string): void;
}

export interface ScrapeJob {
  readonly id: string;
  readonly fqdn: string;
  /** The serialized request to hand to the client (the poll reply's body). */
  readonly request: Buffer;
}

export interface PollOptions {
  /**
   * Polls this client keeps in flight (our X-Pushprox-Poll-Capacity), or
   * undefined for an upstream client, which polls one at a time.
   */
  readonly capacity: number | undefined;
  /** End at once as `idle` unless work is pending (our hello). */
  readonly hello: boolean;
  /**
   * A channel's poll: it never ends as `idle` nor as surplus (the channel
   * keeps itself alive and the client decides how many it holds). Its arrival
   * ends the polls of capacity-declaring clients waiting for the FQDN as
   * `idle`: the client that opened the channel sends no more polls, and only
   * the proxy can end one without racing a scrape handed to it. Default false.
   */
  readonly persistent?: boolean;
  /**
   * The poll's X-Pushprox-Client-Meta, decoded by Coordinator.decodeMeta();
   * undefined when it carried none (an upstream client). The newest poll of
   * an FQDN sets its metadata. Default undefined.
   */
  readonly meta?: ReceivedMeta | undefined;
}

export interface Ticket {
  cancel(): void;
}

/**
 * Which other proxy holds a client this one does not know: the cluster
 * (cluster/cluster.ts) implements it over NATS; the coordinator only asks.
 */
export interface RemoteHolderLookup {
  /** The id of a peer proxy holding lower-cased `key`, or undefined. */
  holderOf(key: string): string | undefined;
  /**
   * False until the fleet's registry can be trusted (joined, and the peers'
   * first announcements had time to arrive): until then a scrape for an FQDN
   * known nowhere waits as within --registration.grace. Default true.
   */
  readonly settled?: boolean;
}
