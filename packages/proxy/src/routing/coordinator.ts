import { ERROR_CODES, PushProxError, type ClientMeta } from '@pushprox/shared';
import { ClientMetaStore, type ReceivedMeta } from './client-meta-store.js';
import type { Clock } from './clock.js';
import { ClientRegistry } from './registry.js';
import { ScrapeBook, type Scrape } from './scrape-book.js';
import { DEFAULT_SURPLUS_LINGER_MS, type CoordinatorOptions } from './coordinator-options.js';
import { ExpiryQueue } from './expiry-queue.js';
import { PollLists, WaitingPoll } from './waiting-poll.js';
import type { PollEndReason, PollOptions, PollSink, RemoteHolderLookup, ScrapeJob, ScrapeSink, Ticket } from './types.js';

export type { CoordinatorOptions, PollEndReason, PollOptions, PollSink, ReceivedMeta, RemoteHolderLookup, ScrapeJob, ScrapeSink, Ticket };
export { DEFAULT_SURPLUS_LINGER_MS };

const NO_TICKET: Ticket = { cancel() {} };

/**
 * Routing state, apart from HTTP (upstream's coordinator.go): polls waiting
 * per FQDN, scrapes waiting for a poll, scrapes waiting for their push.
 * Invariants: a scrape is in `#scrapes` from submit until it completes, fails
 * or is cancelled, and its deadline timer runs the whole time (ScrapeBook); a
 * poll is in `#polls` only while its connection is open and it has not been answered.
 */
export class Coordinator {
  readonly #opts: CoordinatorOptions;
  readonly #clock: Clock;
  readonly registry: ClientRegistry;
  readonly #meta: ClientMetaStore;
  readonly #polls = new PollLists();
  readonly #scrapes: ScrapeBook;
  /** Polls that end as `idle` after --poll.idle-timeout (see ExpiryQueue for its contract). */
  readonly #idle: ExpiryQueue<WaitingPoll>;
  /**
   * Surplus polls (see CoordinatorOptions.surplusLingerMs). Our client holds
   * one poll while idle and adds one whenever it takes a scrape with none of
   * its polls left waiting; this queue shrinks it back. The proxy, not the
   * client, ends a surplus poll: a client aborting one could race a scrape
   * being handed to it. Invariant: a key never loses its last waiting poll here.
   */
  readonly #surplus: ExpiryQueue<WaitingPoll>;
  readonly #lingers: boolean;
  /** Waiting polls that yield to a channel (WaitingPoll.yields), over all keys. */
  #yielding = 0;
  /** drain() was called: every poll from now on ends at once as `shutdown`. */
  #draining = false;
  /** clock.now() until which unknown FQDNs wait (CoordinatorOptions.registrationGraceMs). */
  readonly #graceUntil: number;
  readonly #cancelPoll = (poll: WaitingPoll): void => {
    if (!poll.done) this.#finishPoll(poll);
  };

  constructor(opts: CoordinatorOptions) {
    this.#opts = opts;
    this.#clock = opts.clock;
    this.#graceUntil = opts.clock.now() + (opts.registrationGraceMs ?? 0);
    // A client with a poll waiting is connected: the registry asks the waiting polls.
    this.#meta = new ClientMetaStore(opts.maxClientMetaBytes);
    this.registry = new ClientRegistry(
      opts.clock,
      opts.registrationTimeoutMs,
      (key) => this.#polls.has(key),
      opts.maxClients,
      (key) => this.#meta.delete(key),
    );
    this.#scrapes = new ScrapeBook(opts.clock);
    this.#idle = new ExpiryQueue<WaitingPoll>(
      opts.clock,
      opts.pollIdleTimeoutMs,
      (poll) => !poll.done,
      (poll) => this.#finishPoll(poll).end('idle'),
    );
    const lingerMs = opts.surplusLingerMs ?? DEFAULT_SURPLUS_LINGER_MS;
    this.#lingers = lingerMs > 0;
    this.#surplus = new ExpiryQueue<WaitingPoll>(
      opts.clock,
      lingerMs,
      (poll) => poll.lingers && !poll.done,
      (poll) => {
        if (this.#polls.count(poll.key) > 1) return this.#finishPoll(poll).end('idle');
        poll.settle();
        this.#surplus.ended();
      },
    );
  }

  /** Polls waiting for `fqdn` now (a channel counts as one). */
  waitingPollsOf(fqdn: string): number {
    return this.#polls.count(fqdn.toLowerCase());
  }

  /** Counts for metrics and tests. */
  stats(): { waitingPolls: number; pendingScrapes: number; activeScrapes: number } {
    return { waitingPolls: this.#polls.size, pendingScrapes: this.#scrapes.pendingCount, activeScrapes: this.#scrapes.liveCount };
  }

  /**
   * Throws REGISTRATION_FULL if a poll for `fqdn` would register one FQDN
   * more than --registration.max-clients. Every edge that takes a poll (a
   * /poll, a push-poll, a channel) asks before it waits.
   */
  admit(fqdn: string): void {
    if (this.registry.admits(fqdn.toLowerCase())) return;
    this.#opts.onRegistrationRefused?.(fqdn);
    throw new PushProxError(
      ERROR_CODES.REGISTRATION_FULL,
      `expected at most ${this.#opts.maxClients} registered clients (--registration.max-clients), refusing one more: ${JSON.stringify(fqdn)}`,
    );
  }

  /**
   * Decodes an X-Pushprox-Client-Meta value (identical values are decoded
   * once while any FQDN holds them); throws ClientMetaError (400) naming the
   * fault. Edges call it before they register the poll.
   */
  decodeMeta(raw: string): ReceivedMeta {
    return this.#meta.decode(raw);
  }

  /** What the client of `fqdn` said about itself on its newest poll: empty for an upstream client or an unknown FQDN. */
  clientMeta(fqdn: string): ClientMeta {
    return this.#meta.get(fqdn.toLowerCase());
  }

  /** The X-Pushprox-Client-Meta value of `fqdn`'s newest poll, as received (presence passes it on); undefined: none. */
  clientMetaRaw(fqdn: string): string | undefined {
    return this.#meta.raw(fqdn.toLowerCase());
  }

  /** True when some registered FQDN has labels or modules (then /clients groups by them). */
  get hasClientMeta(): boolean {
    return !this.#meta.empty;
  }

  poll(fqdn: string, opts: PollOptions, sink: PollSink): Ticket {
    if (this.#draining) {
      // A poll that came on a connection kept alive, or a channel done with its scrape.
      sink.end('shutdown');
      return NO_TICKET;
    }
    const key = fqdn.toLowerCase();
    // Told before the registry is refreshed, so that it can tell a new registration from a renewed one.
    this.#opts.onPoll?.(fqdn, opts);
    this.registry.touch(key, fqdn);
    if (!this.#meta.set(key, opts.meta)) this.#opts.onClientMetaRefused?.(fqdn);
    if (this.#dispatchPending(key, sink)) return NO_TICKET;
    if (opts.hello) {
      sink.end('idle');
      return NO_TICKET;
    }
    const timed = opts.capacity !== undefined && opts.persistent !== true;
    const expires = timed && this.#opts.pollIdleTimeoutMs > 0;
    const lingers = timed && this.#lingers && this.#polls.has(key);
    // Checked by count first: a channel waits again after every scrape it answers.
    if (opts.persistent === true && this.#yielding > 0) {
      for (const p of this.#polls.of(key)) if (p.yields) this.#finishPoll(p).end('idle');
    }
    const poll = new WaitingPoll(key, sink, { expires, lingers, yields: timed }, this.#cancelPoll);
    if (timed) this.#yielding++;
    if (expires) this.#idle.add(poll);
    if (lingers) this.#surplus.add(poll);
    const limit = Math.min(opts.capacity ?? 1, this.#opts.maxPollsPerFqdn);
    // Upstream semantics: a newer poll expires the oldest waiting one.
    for (let n = this.#polls.add(poll); n > limit; n--) this.#finishPoll(this.#polls.oldest(key)!).end('expired');
    return poll;
  }

  /**
   * The peer a scrape for `fqdn` goes to: none while a poll or channel of it
   * waits here (a client held here always wins); else the peer that announced
   * it with a poll waiting there. A client whose connections a load balancer
   * spreads over proxies is registered at several, but waits at one: the
   * scrape goes there rather than park here for a poll that may land elsewhere.
   */
  remoteHolderOf(fqdn: string): string | undefined {
    const key = fqdn.toLowerCase();
    if (!this.#opts.remoteHolders || this.#polls.has(key)) return undefined;
    return this.#opts.remoteHolders.holderOf(key);
  }

  /**
   * Another proxy announced `fqdn` waiting there: scrapes for it that wait
   * here for a poll (within the start-up grace, or for a client of ours that
   * is busy) and whose edge can forward them leave for that proxy now rather
   * than at their deadline. Nothing happens while a poll of it waits here.
   */
  remoteAppeared(fqdn: string): void {
    const key = fqdn.toLowerCase();
    const waiting = this.#scrapes.pendingOf(key);
    if (waiting.length === 0) return;
    const peer = this.remoteHolderOf(key);
    if (peer === undefined) return;
    for (const scrape of waiting) {
      if (!scrape.sink.moved) continue;
      this.#scrapes.remove(scrape);
      scrape.sink.moved(peer);
    }
  }

  /**
   * Queues a scrape for `fqdn`. Throws SCRAPE_UNKNOWN_CLIENT at once when no
   * client for it polled within the registration timeout (after the start-up
   * grace, and once a cluster's registry is settled); otherwise the scrape has until `timeoutMs` for a client to take
   * it and push the answer. Invariant: a scrape for an unknown FQDN waits
   * only within the grace, and holds its scraper's connection and one
   * deadline timer like any other, so the wait is bounded by both.
   */
  scrape(job: ScrapeJob, timeoutMs: number, sink: ScrapeSink): Ticket {
    const key = job.fqdn.toLowerCase();
    if (!this.registry.isKnown(key) && this.#clock.now() >= this.#graceUntil && this.#opts.remoteHolders?.settled !== false) {
      const since = this.registry.sinceLastSeen(key);
      const last = since === undefined ? 'never polled' : `last polled ${Math.round(since / 1000)}s ago`;
      throw new PushProxError(
        ERROR_CODES.SCRAPE_UNKNOWN_CLIENT,
        `no client registered for ${JSON.stringify(job.fqdn)} (${last}; registration timeout ${Math.round(this.#opts.registrationTimeoutMs / 1000)}s): is pushprox-client running with --fqdn=${job.fqdn}?`,
      );
    }
    if (this.#scrapes.get(job.id)) throw new Error(`duplicate scrape id ${job.id}`);
    const scrape: Scrape = {
      key,
      job,
      sink,
      state: 'pending',
      timer: this.#clock.setTimeout(() => this.#timeout(scrape, timeoutMs), timeoutMs),
    };
    this.#scrapes.add(scrape);
    if (!this.#dispatchToPoll(key, scrape)) this.#scrapes.park(scrape);
    return { cancel: () => this.#scrapes.remove(scrape) };
  }

  /**
   * A push arrived for `id`: marks the scrape as being answered and returns
   * its job. Unknown or expired ids are refused at once (upstream blocked 15 s).
   */
  claim(id: string): ScrapeJob {
    return this.#scrapes.claim(id);
  }

  /** Whether this proxy handed out `id` (live, or recently ended). */
  knows(id: string): boolean {
    return this.#scrapes.knows(id);
  }

  /** The FQDN a live scrape was routed to, or undefined. */
  fqdnOf(id: string): string | undefined {
    return this.#scrapes.get(id)?.job.fqdn;
  }

  /**
   * The scrape's response was relayed (or abandoned); forget it, but keep its
   * tombstone so a second push for it is told 410, not 404 (never seen).
   */
  complete(id: string): void {
    const scrape = this.#scrapes.get(id);
    if (scrape) this.#scrapes.remove(scrape);
  }

  /**
   * The client that took scrape `id` can no longer answer it (its channel
   * closed): fail it now instead of at its deadline. Nothing happens unless
   * the scrape was handed out and no push for it has started.
   */
  abandon(id: string, err: PushProxError): void {
    const scrape = this.#scrapes.get(id);
    if (scrape?.state !== 'dispatched') return;
    this.#scrapes.remove(scrape);
    scrape.sink.fail(err);
  }

  /**
   * Ends every waiting poll and fails every scrape no client has taken yet;
   * polls that come later end at once. Scrapes handed out may still be pushed.
   */
  drain(err: PushProxError): void {
    this.#draining = true;
    for (const p of this.#polls.all()) this.#finishPoll(p).end('shutdown');
    for (const s of this.#scrapes.allPending()) {
      this.#scrapes.remove(s);
      s.sink.fail(err);
    }
  }

  #dispatchPending(key: string, sink: PollSink): boolean {
    const scrape = this.#scrapes.firstPending(key);
    if (!scrape) return false;
    // A dead poll takes nothing; the scrape stays first in line.
    if (sink.deliver(scrape.job)) this.#scrapes.dispatchFirst(key);
    return true;
  }

  #dispatchToPoll(key: string, scrape: Scrape): boolean {
    for (let poll = this.#polls.oldest(key); poll; poll = this.#polls.oldest(key)) {
      // A poll whose connection died is skipped; the scrape tries the next one.
      if (this.#finishPoll(poll).deliver(scrape.job)) {
        scrape.state = 'dispatched';
        return true;
      }
    }
    return false;
  }

  /** Takes a waiting poll out of every structure; its sink, to answer it. */
  #finishPoll(poll: WaitingPoll): PollSink {
    const sink = poll.take();
    if (poll.expires) this.#idle.ended();
    if (poll.lingers) this.#surplus.ended();
    if (this.#polls.remove(poll)) {
      if (poll.yields) this.#yielding--;
      this.registry.touch(poll.key, poll.key);
    }
    return sink;
  }

  #timeout(scrape: Scrape, timeoutMs: number): void {
    if (this.#scrapes.get(scrape.job.id) !== scrape) return;
    const wasPending = scrape.state === 'pending';
    this.#scrapes.remove(scrape);
    const secs = `${timeoutMs / 1000}s`;
    const msg = wasPending
      ? `Timeout reached for ${JSON.stringify(scrape.job.fqdn)}: context deadline exceeded (no poll from the client within ${secs})`
      : `context deadline exceeded (the client took the scrape but pushed no complete response within ${secs})`;
    scrape.sink.fail(new PushProxError(ERROR_CODES.SCRAPE_TIMEOUT, msg));
  }
}
