import type { Clock } from './clock.js';
import type { PollOptions, RemoteHolderLookup } from './types.js';

export interface CoordinatorOptions {
  readonly clock: Clock;
  /** A client is known for this long after its last poll (--registration.timeout). */
  readonly registrationTimeoutMs: number;
  /** Idle polls of capacity-declaring clients are answered after this; 0 disables (--poll.idle-timeout). */
  readonly pollIdleTimeoutMs: number;
  /** Most polls that may wait per FQDN, whatever a client declares (--poll.max-per-fqdn). */
  readonly maxPollsPerFqdn: number;
  /** Most FQDNs registered at once (--registration.max-clients); a poll for one more is refused. Default: no limit. */
  readonly maxClients?: number;
  /** Called for each poll refused by maxClients (for a metric and a warning). */
  readonly onRegistrationRefused?: (fqdn: string) => void;
  /**
   * A poll of a capacity-declaring client that arrived while another poll of
   * its FQDN was waiting is surplus: it ends as `idle` once it has waited this
   * long, if another poll of the FQDN still waits. 0 disables. Default
   * DEFAULT_SURPLUS_LINGER_MS.
   */
  readonly surplusLingerMs?: number;
  /** Budget of distinct client metadata held (see ClientMetaStore). Default DEFAULT_CLIENT_META_BYTES (64 MiB). */
  readonly maxClientMetaBytes?: number;
  /** Called when a poll's metadata was not stored because that budget is spent (for a warning). */
  readonly onClientMetaRefused?: (fqdn: string) => void;
  /** Told of each poll (a /poll, a push-poll, a channel's wait) once admitted, for the status page's history. */
  readonly onPoll?: (fqdn: string, opts: PollOptions) => void;
  /** Other proxies' clients (--cluster.nats-url); default none. */
  readonly remoteHolders?: RemoteHolderLookup;
  /**
   * For this long after the coordinator is made (the proxy's start), a scrape
   * for an FQDN not registered waits up to its deadline for a poll, as
   * upstream's always does, instead of failing at once: right after a start
   * every FQDN is unknown until its client is back (--registration.grace).
   * Default 0.
   */
  readonly registrationGraceMs?: number;
}

/**
 * Longer than common scrape intervals (Prometheus's default is 1 m), so that
 * a host scraped in parallel at every interval keeps its polls; a host whose
 * scrapes stopped falls back to one waiting poll within this time.
 */
export const DEFAULT_SURPLUS_LINGER_MS = 120_000;
