import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The cluster's series, on the proxy's registry; only present with --cluster.nats-url. */
export class ClusterMetrics {
  readonly forwarded: Counter<'code'>;
  readonly forwardDuration: Histogram;
  readonly served: Counter<'code'>;
  readonly reconnects: Counter;
  readonly passedPushes: Counter<'code'>;

  constructor(
    registry: Registry,
    sources: { connected(): boolean; peers(): number; directClients(): number; remoteClients(): number; droppedAnnouncements(): number },
  ) {
    this.forwarded = new Counter({
      name: 'pushprox_cluster_forwarded_scrapes_total',
      help: 'Scrapes this proxy forwarded over NATS to the proxy holding the client, by the status Prometheus got.',
      labelNames: ['code'],
      registers: [registry],
    });
    this.forwardDuration = new Histogram({
      name: 'pushprox_cluster_forward_duration_seconds',
      help: 'Time from forwarding a scrape over NATS to the end of its relayed answer.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    this.served = new Counter({
      name: 'pushprox_cluster_served_forwards_total',
      help: 'Scrapes forwarded to this proxy by another one and answered here, by the status sent back.',
      labelNames: ['code'],
      registers: [registry],
    });
    this.passedPushes = new Counter({
      name: 'pushprox_cluster_passed_pushes_total',
      help: 'Pushes that reached this proxy for a scrape another proxy handed out, passed on to it, by the status the client got.',
      labelNames: ['code'],
      registers: [registry],
    });
    this.reconnects = new Counter({
      name: 'pushprox_cluster_nats_reconnects_total',
      help: 'Times the NATS connection was re-established after it was lost.',
      registers: [registry],
    });
    new Gauge({
      name: 'pushprox_cluster_nats_connected',
      help: '1 while the proxy is connected to NATS, else 0 (it then serves only the clients it holds).',
      registers: [registry],
      collect() {
        this.set(sources.connected() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'pushprox_cluster_peers',
      help: 'Other proxies that currently announce at least one client.',
      registers: [registry],
      collect() {
        this.set(sources.peers());
      },
    });
    new Gauge({
      name: 'pushprox_cluster_direct_clients',
      help: 'Clients on NATS directly (pushprox-client --nats-url) that currently announce themselves.',
      registers: [registry],
      collect() {
        this.set(sources.directClients());
      },
    });
    new Gauge({
      name: 'pushprox_cluster_remote_clients',
      help: 'Client entries announced by other proxies (an FQDN held by two proxies counts twice).',
      registers: [registry],
      collect() {
        this.set(sources.remoteClients());
      },
    });
    new Counter({
      name: 'pushprox_cluster_dropped_announcements_total',
      help: 'Announced clients dropped because the table of remote clients or peers was full.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(sources.droppedAnnouncements());
      },
    });
    this.forwarded.inc({ code: '200' }, 0);
    this.served.inc({ code: '200' }, 0);
  }
}
