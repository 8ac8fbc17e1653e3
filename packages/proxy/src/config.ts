import type { ListenAddress, LogFormat, LogLevel } from '@pushprox/shared';
import type { ClusterConfig } from './cluster/options.js';

/** Where a listener listens: an address, or a socket inherited from systemd (--web.systemd-socket). */
export type ListenOn = ListenAddress | { readonly fd: number; readonly name: string };

/** Everything the proxy is configured with, resolved once from flags. */
export interface ProxyConfig {
  readonly listen: ListenOn;
  /** --web.client-listen-address (or a second systemd socket): a listener for /poll and /push only; undefined: one listener. */
  readonly clientListen: ListenOn | undefined;
  /** --web.client-config.file: TLS of the client listener; undefined: the main listener's TLS. */
  readonly clientWebConfigFile: string | undefined;
  /** --web.enable-lifecycle: POST/PUT /-/reload reloads the files (else 403, as Prometheus); default false. */
  readonly webEnableLifecycle: boolean;
  /** --web.read-header-timeout: a request head must arrive within this. */
  readonly readHeaderTimeoutMs: number;
  /** --web.read-idle-timeout: longest silence while a request body arrives. */
  readonly readIdleTimeoutMs: number;
  /** --web.max-auth-failures: failed basic auth or enrollment attempts per source per minute; 0: no limit. */
  readonly authMaxFailures: number;
  /** --web.config.file: TLS and basic auth in exporter-toolkit format; undefined for plain HTTP. */
  readonly webConfigFile: string | undefined;
  /** --client.token-file: bearer tokens /poll and /push require; undefined for none. */
  readonly clientTokenFile: string | undefined;
  /** --scrape.max-timeout: a scrape's deadline is clamped to this. */
  readonly scrapeMaxTimeoutMs: number;
  /** --scrape.default-timeout: used when Prometheus sends no timeout header. */
  readonly scrapeDefaultTimeoutMs: number;
  /** --registration.timeout: a client stays known this long after its last poll. */
  readonly registrationTimeoutMs: number;
  /** --registration.grace: after start, scrapes for unknown FQDNs wait for a poll this long; 0: fail fast at once. */
  readonly registrationGraceMs: number;
  /** --poll.idle-timeout: idle polls of our clients are answered after this; 0 disables. */
  readonly pollIdleTimeoutMs: number;
  /** --poll.max-per-fqdn: most polls waiting per FQDN. */
  readonly pollMaxPerFqdn: number;
  /** --registration.max-clients: most FQDNs registered at once; a poll for one more is refused (503). */
  readonly registrationMaxClients: number;
  /** --push.max-body-size: largest pushed response, head plus body, in bytes. */
  readonly pushMaxBodyBytes: number;
  /** --shutdown.timeout: how long SIGTERM waits for scrapes being answered. */
  readonly shutdownTimeoutMs: number;
  /** Certificate enrollment (--enroll.*); undefined unless --enroll.token-file is given. */
  readonly enroll: EnrollConfig | undefined;
  /** The proxy cluster over NATS (--cluster.*, cluster/options.ts); undefined without --cluster.nats-url. */
  readonly cluster: ClusterConfig | undefined;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
}

export interface EnrollConfig {
  /** --enroll.token-file: bootstrap tokens; enables POST /enroll and GET /enroll/ca. */
  readonly tokenFile: string;
  /** --enroll.ca-dir: the `pki init` directory whose ca.crt/ca.key sign. */
  readonly caDir: string;
  /** --enroll.cert-validity: lifetime of issued certificates (capped at the CA's expiry). */
  readonly certValidityMs: number;
  /** --enroll.state-file: token use counts; undefined: `<caDir>/enroll-state.json`. */
  readonly stateFile: string | undefined;
  /** --web.max-auth-failures: failed enrollments per source per minute before 429; 0: no limit. */
  readonly maxFailures: number;
}

export const PROXY_DEFAULTS = Object.freeze({
  listen: ':8080',
  readHeaderTimeout: '10s',
  readIdleTimeout: '30s',
  authMaxFailures: 10,
  scrapeMaxTimeout: '5m',
  scrapeDefaultTimeout: '15s',
  registrationTimeout: '5m',
  registrationGrace: '15s',
  pollIdleTimeout: '0s',
  pollMaxPerFqdn: 16,
  registrationMaxClients: 10_000,
  pushMaxBodySize: '512MB',
  shutdownTimeout: '10s',
  enrollCertValidity: '720h',
});
