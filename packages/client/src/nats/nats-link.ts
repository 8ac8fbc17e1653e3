import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { connect, credsAuthenticator, headers, nuid, type Msg, type NatsConnection, type NodeConnectionOptions, type Subscription } from '@nats-io/transport-node';
import {
  CLIENT_QUEUE,
  CLUSTER_HEADERS as H,
  Credit,
  ERROR_CODES,
  FORWARD_WINDOW,
  PushProxError,
  SUBJECT_FQDN_PATTERN,
  SUBJECT_PRESENCE,
  clientReplyPrefix,
  clientSubject,
  messageOf,
  parseRequest,
  type Logger,
} from '@pushprox/shared';
import type { ScrapeScheduler } from '../scraping/scheduler.js';
import { NatsPushSink } from './nats-sink.js';
import { CLIENT_ANNOUNCE_MS, type ClientNatsConfig } from './options.js';

/** Largest scrape request taken from NATS (a poll reply's body is far smaller). */
const MAX_REQUEST_BYTES = 1024 * 1024;

/** One FQDN the link takes scrapes for, with the scheduler (policy, modules, concurrency) that runs them. */
export interface NatsTarget {
  readonly fqdn: string;
  readonly scheduler: ScrapeScheduler;
  /** Its X-Pushprox-Client-Meta value (labels, modules, version), announced with the FQDN; re-read at every announcement. */
  readonly meta: () => string;
}

/**
 * A client on NATS directly: over one connection, takes each FQDN's scrapes
 * from clientSubject(fqdn) in the CLIENT_QUEUE queue group (a gateway
 * subscribes once per FQDN), answers each on the proxy's stream subject
 * under its credit (nats-sink.ts), and announces the FQDNs on the presence
 * subject so every proxy lists and routes them. NATS authorization is the
 * identity check: a credential allowed to subscribe only to its own FQDN's
 * subjects cannot take another host's scrapes.
 */
export class NatsLink {
  readonly #config: ClientNatsConfig;
  readonly #targets: readonly NatsTarget[];
  readonly #logger: Logger;
  readonly #id = `c${randomBytes(9).toString('base64url')}`;
  #nc: NatsConnection | undefined;
  readonly #subs: Subscription[] = [];
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(config: ClientNatsConfig, targets: readonly NatsTarget[], logger: Logger) {
    for (const { fqdn } of targets) {
      if (!SUBJECT_FQDN_PATTERN.test(fqdn.toLowerCase())) {
        throw new PushProxError(ERROR_CODES.CONFIG_INVALID, `--nats-url needs each --fqdn of letters, digits, "-", "_" and dots (it becomes a NATS subject), got ${JSON.stringify(fqdn)}`);
      }
    }
    if (targets.length === 0) throw new PushProxError(ERROR_CODES.CONFIG_INVALID, '--nats-url needs at least one --fqdn, got none');
    this.#config = config;
    this.#targets = targets;
    this.#logger = logger;
  }

  get #names(): string {
    return this.#targets.map((t) => t.fqdn).join(',');
  }

  /** Connects in the background, retrying for ever; logs each loss and return. */
  start(): void {
    const c = this.#config;
    const opts: NodeConnectionOptions = {
      servers: [...c.urls],
      name: `pushprox-client ${this.#names}`,
      waitOnFirstConnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 5_000,
      maxPingOut: 2,
      ...(c.user !== undefined && { user: c.user, pass: readFileSync(c.passwordFile!, 'utf8').replace(/\r?\n$/, '') }),
      ...(c.credsFile !== undefined && { authenticator: credsAuthenticator(readFileSync(c.credsFile)) }),
      ...(c.tlsCaFile !== undefined && { tls: { caFile: c.tlsCaFile } }),
    };
    this.#logger.info('Connecting to NATS', { servers: c.urls.join(','), subject: this.#targets.map((t) => clientSubject(t.fqdn)).join(',') });
    connect(opts).then(
      (nc) => (this.#stopped ? void nc.close() : this.#joined(nc)),
      (err: unknown) => this.#logger.error('Cannot connect to NATS', { err: messageOf(err) }),
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    for (const sub of this.#subs) sub.unsubscribe();
    this.#announce('bye');
    await this.#nc?.drain().catch(() => undefined);
  }

  #joined(nc: NatsConnection): void {
    this.#nc = nc;
    for (const target of this.#targets) this.#subs.push(this.#subscribe(nc, target));
    this.#logger.info('Taking scrapes from NATS', { server: nc.getServer(), subject: this.#targets.map((t) => clientSubject(t.fqdn)).join(',') });
    this.#announce('add');
    this.#timer = setInterval(() => this.#announce('add'), CLIENT_ANNOUNCE_MS);
    this.#timer.unref();
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.#logger.warn('Lost NATS; reconnecting', { server: s.server });
        else if (s.type === 'reconnect') {
          this.#logger.info('Reconnected to NATS', { server: s.server });
          this.#announce('add');
        } else if (s.type === 'error') this.#logger.error('NATS error', { err: messageOf(s.error) });
      }
    })().catch(() => undefined);
  }

  #subscribe(nc: NatsConnection, target: NatsTarget): Subscription {
    const subject = clientSubject(target.fqdn);
    return nc.subscribe(subject, {
      queue: CLIENT_QUEUE,
      callback: (err, msg) => {
        if (err) return void this.#logger.error('NATS subscription refused; no scrapes can arrive', { subject, err: messageOf(err) });
        try {
          this.#serve(nc, msg, target);
        } catch (e) {
          const m = headers();
          m.set(H.code, e instanceof PushProxError ? e.code : ERROR_CODES.CLIENT_BAD_POLL_REPLY);
          // Called from the NATS socket's data handler: nothing may throw out of it.
          try {
            msg.respond(Buffer.from(messageOf(e)), { headers: m });
          } catch {
            // Closed or draining: the proxy's deadline ends the scrape.
          }
        }
      },
    });
  }

  #serve(nc: NatsConnection, msg: Msg, target: NatsTarget): void {
    const stream = msg.headers?.get(H.stream) ?? '';
    if (!msg.reply || !/^[A-Za-z0-9_.-]{1,256}$/.test(stream) || msg.data.length > MAX_REQUEST_BYTES) {
      throw new PushProxError(ERROR_CODES.CLIENT_BAD_POLL_REPLY, `expected a scrape request of at most ${MAX_REQUEST_BYTES} bytes with a reply and a ${H.stream} subject`);
    }
    const receivedAt = performance.now();
    const { head, body } = parseRequest(Buffer.from(msg.data));
    const credit = new Credit(FORWARD_WINDOW);
    const control = `${clientReplyPrefix(target.fqdn)}.${nuid.next()}`;
    const ctl = nc.subscribe(control, {
      callback: (err, c) => {
        if (err) return;
        const kind = c.headers?.get(H.kind);
        if (kind === 'ack') credit.ack(Number(c.headers?.get(H.seq)));
        else if (kind === 'cancel') credit.abort(new PushProxError(ERROR_CODES.SCRAPE_CANCELLED, 'the proxy cancelled the scrape'));
      },
    });
    const open = headers();
    open.set(H.control, control);
    msg.respond(undefined, { headers: open });
    const sink = new NatsPushSink(nc, stream, credit);
    // submit() settles once the push is sent or failed (never rejects); the job's deadline bounds it.
    void target.scheduler.submit({ head, body, receivedAt }, sink).finally(() => ctl.unsubscribe());
  }

  #announce(kind: 'add' | 'bye'): void {
    try {
      const add = kind === 'add';
      // As a proxy describes its clients (PresenceMessage.meta, metaOf, transports): each distinct value once.
      const values = add ? this.#targets.map((t) => t.meta()) : [];
      const meta = [...new Set(values.filter((v) => v !== ''))];
      const msg = {
        v: 1,
        proxy: this.#id,
        kind,
        ttlMs: CLIENT_ANNOUNCE_MS * 3,
        fqdns: add ? this.#targets.map((t) => t.fqdn) : [],
        direct: true,
        ...(add && { transports: '-'.repeat(values.length) }),
        ...(meta.length > 0 && { meta, metaOf: values.map((v) => meta.indexOf(v)) }),
      };
      this.#nc?.publish(SUBJECT_PRESENCE, JSON.stringify(msg));
    } catch (err) {
      this.#logger.debug('Presence not published', { err: messageOf(err) });
    }
  }
}
