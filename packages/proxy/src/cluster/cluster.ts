import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { ERROR_CODES, PushProxError, messageOf, statusOf, type Logger } from '@pushprox/shared';
import type { Registry } from 'prom-client';
import type { Coordinator } from '../routing/coordinator.js';
import type { RemoteHolderLookup } from '../routing/types.js';
import type { ForwardedScrape, Forwarder, Responders } from '../exchanges/scrape-handler.js';
import type { RemotePush } from '../exchanges/push-relay.js';
import { systemClock, type Clock } from '../routing/clock.js';
import { PeerTable, type RemoteClient } from './peer-table.js';
import type { ClientDescription } from './presence-batches.js';
import { Presence } from './presence.js';
import { ForwardClient } from './forwarding/forward-client.js';
import { serveForwards } from './forwarding/forward-server.js';
import { PushForwarder } from './forwarding/push-forward.js';
import { servePushIntake } from './forwarding/push-intake.js';
import { ClusterMetrics } from './metrics.js';
import { connectOptions, connectUntil } from './connection.js';
import type { ClusterConfig } from './options.js';

/**
 * After NATS is lost, remote clients are still looked up this long: the
 * client holds publishes made while it reconnects (one NATS node killed), so a
 * scrape in that gap is forwarded late rather than refused.
 */
export const RECONNECT_GRACE_MS = 2_000;

/**
 * After it first joins, a proxy trusts the fleet's registry this long later:
 * its hello asks every peer for a full announcement, and their answers
 * arrive within this on any working NATS.
 */
export const SETTLE_MS = 1_000;

export interface ClusterStartDeps {
  readonly coordinator: Coordinator;
  readonly responders: Responders;
  readonly registry: Registry;
  readonly scrapeMaxTimeoutMs: number;
  /** --push.max-body-size: the largest answer a client on NATS directly may send. */
  readonly pushMaxBodyBytes: number;
  /** Each held client's metadata and transport, for presence. Default: names only. */
  readonly describe?: (name: string) => ClientDescription;
  /** This proxy's name for people, shown as "held by" on the peers. Default: none. */
  readonly name?: string;
}

/**
 * One proxy's membership in the fleet: the NATS connection, presence, and
 * both sides of forwarding. It is the coordinator's RemoteHolderLookup and
 * the scrape handler's Forwarder; neither knows NATS.
 */
export class Cluster implements RemoteHolderLookup, Forwarder {
  /** Fresh at each start: a restarted proxy is a new peer, its old id's entries expire or are dropped. */
  readonly selfId = randomBytes(12).toString('base64url');
  #everJoined = false;
  #joinedAt = Infinity;
  readonly #config: ClusterConfig;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #table: PeerTable;
  #forwarder: ForwardClient | undefined;
  #nc: NatsConnection | undefined;
  #connected = false;
  #lostAt = -Infinity;
  #stopped = false;
  #presence: Presence | undefined;
  #serving: Subscription | undefined;
  #intake: Subscription | undefined;
  readonly #pushForwarder = new PushForwarder(() => this.#nc);
  /** Pushes for Ids another proxy handed out (the push handler's RemotePush), counted by outcome. */
  readonly pushes: RemotePush = {
    relay: async (head, body, identity) => {
      try {
        await this.#pushForwarder.relay(head, body, identity);
        this.#metrics?.passedPushes.inc({ code: '200' });
      } catch (err) {
        this.#metrics?.passedPushes.inc({ code: String(statusOf(err)) });
        throw err;
      }
    },
  };
  #metrics: ClusterMetrics | undefined;
  #name = '';

  constructor(config: ClusterConfig, logger: Logger, clock: Clock = systemClock) {
    this.#config = config;
    this.#logger = logger;
    this.#clock = clock;
    this.#table = new PeerTable(clock, this.selfId);
  }

  /** Connects in the background; until then (and whenever NATS is gone) the proxy serves its own clients. */
  start(deps: ClusterStartDeps): void {
    this.#name = deps.name ?? '';
    this.#forwarder = new ForwardClient(() => this.#nc, this.#table, deps.pushMaxBodyBytes);
    this.#metrics = new ClusterMetrics(deps.registry, {
      connected: () => this.#connected,
      peers: () => this.#table.proxies,
      directClients: () => this.#table.peers - this.#table.proxies,
      remoteClients: () => this.#table.entries,
      droppedAnnouncements: () => this.#table.dropped,
    });
    this.#logger.info('Cluster: connecting to NATS', { servers: this.#config.natsUrls.join(','), proxy_id: this.selfId });
    const opts = connectOptions(this.#config, `pushprox-proxy ${this.selfId}`);
    connectUntil(opts, () => this.#stopped).then(
      (nc) => nc && this.#joined(nc, deps),
      (err: unknown) => this.#logger.error('Cluster: cannot connect to NATS; serving only this proxy\'s clients', { err: messageOf(err) }),
    );
  }

  holderOf(key: string): string | undefined {
    return this.#available() ? this.#table.holderOf(key) : undefined;
  }

  /** The names other proxies hold (for the fleet's /clients); none while NATS is gone. */
  remoteNames(): string[] {
    return this.#available() ? this.#table.names() : [];
  }

  /** The clients other proxies hold, with what their holders announced; none while NATS is gone. */
  remoteClients(): RemoteClient[] {
    return this.#available() ? this.#table.clients() : [];
  }

  /** This proxy's name for people, as announced (ClusterStartDeps.name); '' before start. */
  get name(): string {
    return this.#name;
  }

  async forward(peer: string, scrape: ForwardedScrape, res: ServerResponse): Promise<void> {
    const start = process.hrtime.bigint();
    let status = 0;
    try {
      if (!this.#forwarder) throw new PushProxError(ERROR_CODES.SCRAPE_UNKNOWN_CLIENT, 'the cluster has not started');
      await this.#forwarder.forward(peer, scrape, res);
      status = res.statusCode;
    } catch (err) {
      status = res.headersSent ? res.statusCode : statusOf(err);
      throw err;
    } finally {
      this.#metrics?.forwarded.inc({ code: String(status) });
      this.#metrics?.forwardDuration.observe(Number(process.hrtime.bigint() - start) / 1e9);
    }
  }

  /**
   * Whether this proxy has joined the fleet once (/-/ready waits for it). A
   * later loss of NATS does not undo it: the proxy keeps serving its own
   * clients then, so a load balancer should keep sending it traffic.
   */
  get joined(): boolean {
    return this.#everJoined;
  }

  /**
   * Whether an FQDN unknown here and in the fleet may fail at once (the
   * coordinator's RemoteHolderLookup.settled): false only for the SETTLE_MS
   * after this proxy joins, while the peers' first announcements arrive; such
   * a scrape then waits for a local poll or a peer's announcement (see
   * Coordinator.remoteAppeared), up to its deadline. A proxy that has not
   * joined (NATS unreachable from the start) knows no fleet to wait for: it
   * behaves as a proxy alone, failing fast once --registration.grace is over.
   */
  get settled(): boolean {
    return this.#joinedAt === Infinity || this.#clock.now() - this.#joinedAt >= SETTLE_MS;
  }

  async close(): Promise<void> {
    this.#stopped = true;
    await this.#presence?.close();
    this.#serving?.unsubscribe();
    this.#intake?.unsubscribe();
    await this.#nc?.drain().catch(() => undefined);
  }

  #available(): boolean {
    return this.#connected || this.#clock.now() - this.#lostAt < RECONNECT_GRACE_MS;
  }

  #joined(nc: NatsConnection, deps: ClusterStartDeps): void {
    this.#nc = nc;
    this.#connected = true;
    this.#everJoined = true;
    this.#joinedAt = this.#clock.now();
    this.#logger.info('Cluster: connected to NATS', { server: nc.getServer(), proxy_id: this.selfId });
    this.#serving = serveForwards({
      nc,
      selfId: this.selfId,
      coordinator: deps.coordinator,
      responders: deps.responders,
      logger: this.#logger,
      scrapeMaxTimeoutMs: deps.scrapeMaxTimeoutMs,
      maxRequestBytes: 1024 * 1024,
      onServed: (status) => this.#metrics?.served.inc({ code: String(status) }),
    });
    this.#intake = servePushIntake({
      nc,
      coordinator: deps.coordinator,
      responders: deps.responders,
      logger: this.#logger,
      maxBodyBytes: deps.pushMaxBodyBytes,
      longestMs: deps.scrapeMaxTimeoutMs + 30_000,
    });
    this.#presence = new Presence({
      selfId: this.selfId,
      table: this.#table,
      localNames: () => deps.coordinator.registry.list(),
      connectedNames: () => deps.coordinator.registry.connectedNames(),
      intervalMs: this.#config.announceIntervalMs,
      logger: this.#logger,
      ...(deps.describe && { describe: deps.describe }),
      ...(deps.name && { name: deps.name }),
      // A client announced waiting at a peer: scrapes for it parked here (a joining proxy's grace) go there now.
      onApplied: (msg) => {
        if (msg.kind === 'add' && !msg.refresh) for (const f of msg.fqdns) deps.coordinator.remoteAppeared(f);
      },
    });
    this.#presence.attach(nc);
    void this.#watch(nc);
  }

  async #watch(nc: NatsConnection): Promise<void> {
    try {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          this.#connected = false;
          this.#lostAt = this.#clock.now();
          this.#logger.warn('Cluster: lost NATS; serving only this proxy\'s clients until it is back', { server: s.server });
        } else if (s.type === 'reconnect') {
          this.#connected = true;
          this.#metrics?.reconnects.inc();
          this.#logger.info('Cluster: reconnected to NATS', { server: s.server });
          this.#presence?.hello();
        } else if (s.type === 'error') {
          this.#logger.warn('Cluster: NATS error', { err: messageOf(s.error) });
        }
      }
    } catch (err) {
      this.#logger.warn('Cluster: NATS status stream ended', { err: messageOf(err) });
    }
  }
}
