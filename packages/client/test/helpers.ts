/**
 * Test doubles with real sockets on 127.0.0.1:0: a fake proxy that behaves
 * like upstream's (holds polls, expires a held poll when another arrives) or
 * like ours (hello → 204 + features, many held polls), and exporters.
 * Every wait has a timeout; every server is closed by the test that made it.
 */
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import {
  CHANNEL_PROTOCOL,
  FEATURE_CHANNEL,
  FEATURE_IDLE_REPLY,
  FEATURE_MULTI_POLL,
  FEATURE_PUSH_POLL,
  HEADER_HELLO,
  HEADER_PUSH_POLL,
  PUSH_POLL_ACCEPTED,
  HEADER_ID,
  HEADER_PROXY_FEATURES,
  HEADER_SCRAPE_TIMEOUT,
  parseRequest,
  parseResponse,
  serializeRequestHead,
  WireHeaders,
  type ParsedResponse,
} from '@pushprox/shared';
import { fixture } from '@pushprox/shared/testing';
import { DEFAULT_SCRAPE_POLICY, scrapePolicy, startClient, type ClientConfig, type RunningClient } from '../src/index.js';

export const FQDN = '127.0.0.1';

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Hands `n` scrapes of `target` to the fake proxy at once; waits for every push and returns them in order. */
export async function scrapeAll(proxy: FakeProxy, target: string, n: number): Promise<RecordedPush[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const { bytes, id } = scrapeRequest({ target });
    ids.push(id);
    proxy.scrape(bytes);
  }
  const pushes: RecordedPush[] = [];
  for (const id of ids) pushes.push(await proxy.waitPush(id));
  return pushes;
}

export async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function readAll(req: http.IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

let idSeq = 0;

/**
 * A scrape request as upstream's proxy puts it in a poll reply (fixture 03a's
 * body), retargeted. `timeoutSeconds: null` drops the timeout header.
 */
export function scrapeRequest(opts: {
  target: string;
  id?: string;
  /** Default: the fixture's GET. */
  method?: string;
  timeoutSeconds?: string | null;
  extraHeaders?: ReadonlyArray<readonly [string, string]>;
}): { bytes: Buffer; id: string } {
  const reply = parseResponse(fixture('03a'));
  const { head } = parseRequest(reply.body);
  const id = opts.id ?? `00000000-0000-4000-8000-${String(++idSeq).padStart(12, '0')}`;
  const headers = head.headers.clone();
  headers.set('Host', new URL(opts.target).host);
  headers.set(HEADER_ID, id);
  if (opts.timeoutSeconds === null) headers.delete(HEADER_SCRAPE_TIMEOUT);
  else if (opts.timeoutSeconds !== undefined) headers.set(HEADER_SCRAPE_TIMEOUT, opts.timeoutSeconds);
  for (const [n, v] of opts.extraHeaders ?? []) headers.append(n, v);
  return { bytes: serializeRequestHead({ ...head, method: opts.method ?? head.method, target: opts.target, headers }), id };
}

/** CN of the client certificate the peer presented, on a TLS connection that asked for one. */
function peerCN(req: http.IncomingMessage): string | undefined {
  const socket = req.socket as Partial<TLSSocket>;
  const cn = socket.getPeerCertificate?.().subject?.CN;
  return typeof cn === 'string' ? cn : undefined;
}

export interface RecordedPoll {
  readonly peerCN?: string | undefined;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
}

export interface RecordedPush {
  readonly peerCN?: string | undefined;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly at: number;
  readonly parsed: ParsedResponse;
  readonly id: string;
}

type PollOverride = (poll: RecordedPoll, index: number) => { status: number; body?: Buffer | string; headers?: Record<string, string> } | undefined;

/**
 * mode 'upstream': polls are held until a scrape comes; a new poll expires the
 * held one with 408 (fixture 09b). mode 'ours': a hello poll gets 204 at once,
 * every reply lists the features (while `features` is true), and any number of
 * polls are held. With `pushPoll` (mode 'ours'), it offers push-and-poll too:
 * a push that asks for it is recorded, then held and answered like a poll
 * (200 + the accepted marker; an empty body for "no work"). With `channel`
 * (mode 'ours'), it lists the channel too and answers each upgrade with 101,
 * then keeps the socket without sending frames (`onUpgrade` is told).
 */
export class FakeProxy {
  readonly mode: 'upstream' | 'ours';
  readonly server: http.Server;
  url = '';
  features = true;
  pushPoll = false;
  channel = false;
  /** Called after each upgrade has been answered with 101. */
  onUpgrade: (() => void) | undefined;
  /** Upgraded sockets, destroyed by close(). */
  readonly upgraded = new Set<Duplex>();
  /** The request headers of every upgrade, in order. */
  readonly upgrades: http.IncomingHttpHeaders[] = [];
  /** Send a held push-poll's head at once (as our proxy does within PUSH_POLL_HEAD_DELAY_MS); false: only with the answer. */
  pushPollHeadEarly = true;
  /** Pushes that asked for push-poll and were taken as polls. */
  pushPolls = 0;
  readonly #pushPollRes = new WeakSet<http.ServerResponse>();
  readonly polls: RecordedPoll[] = [];
  readonly pushes: RecordedPush[] = [];
  readonly held: http.ServerResponse[] = [];
  /** Poll requests open at once (arrived, not yet answered or closed). */
  activePolls = 0;
  maxActivePolls = 0;
  maxHeld = 0;
  /** TCP connections accepted. */
  connections = 0;
  pollOverride: PollOverride | undefined;
  /** Status for a push, by Id; default 200. */
  pushStatus: (id: string) => number = () => 200;
  /** Replaces the default push handling (which buffers the body). */
  pushHandler: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | undefined;
  readonly #queued: Buffer[] = [];

  /** `tls`: serve https with these options (e.g. requestCert to see client certificates). */
  constructor(mode: 'upstream' | 'ours', tls?: https.ServerOptions) {
    this.mode = mode;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => void this.#handle(req, res);
    // https.Server has http.Server's API (listen, close, closeAllConnections).
    this.server = tls ? (https.createServer(tls, handler) as unknown as http.Server) : http.createServer(handler);
    this.server.on('connection', () => this.connections++);
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
      this.upgrades.push(req.headers);
      this.upgraded.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => this.upgraded.delete(socket));
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${CHANNEL_PROTOCOL}\r\n\r\n`);
      this.onUpgrade?.();
    });
  }

  static async start(mode: 'upstream' | 'ours', tls?: https.ServerOptions): Promise<FakeProxy> {
    const p = new FakeProxy(mode, tls);
    p.url = `${tls ? 'https' : 'http'}://127.0.0.1:${await listen(p.server)}/`;
    return p;
  }

  close(): Promise<void> {
    for (const s of this.upgraded) s.destroy();
    return closeServer(this.server);
  }

  /** Hands a scrape request to a held poll, or to the next poll. */
  scrape(bytes: Buffer): void {
    const res = this.held.shift();
    if (res) this.#reply(res, 200, bytes);
    else this.#queued.push(bytes);
  }

  /** Answers every held poll with 204 (as our proxy's idle reply; an empty body to a push-poll). */
  idleAll(): void {
    for (const res of this.held.splice(0)) this.#reply(res, this.#pushPollRes.has(res) ? 200 : 204, '');
  }

  async waitPush(id: string, ms = 5000): Promise<RecordedPush> {
    const find = (): RecordedPush | undefined => this.pushes.find((p) => p.id === id);
    await waitFor(() => find() !== undefined, ms, `push for ${id}`);
    return find()!;
  }

  #featureHeaders(): Record<string, string> {
    if (this.mode !== 'ours' || !this.features) return {};
    const list = [FEATURE_MULTI_POLL, FEATURE_IDLE_REPLY, ...(this.pushPoll ? [FEATURE_PUSH_POLL] : []), ...(this.channel ? [FEATURE_CHANNEL] : [])];
    return { [HEADER_PROXY_FEATURES]: list.join(', ') };
  }

  #reply(res: http.ServerResponse, status: number, body: Buffer | string, extra: Record<string, string> = {}): void {
    const buf = Buffer.from(body);
    if (res.headersSent) {
      res.end(buf);
      return;
    }
    const headers: Record<string, string> = { ...this.#featureHeaders(), ...extra };
    if (this.#pushPollRes.has(res)) headers[HEADER_PUSH_POLL] = PUSH_POLL_ACCEPTED;
    if (status !== 204) {
      headers['Content-Type'] = 'text/plain; charset=utf-8';
      headers['Content-Length'] = String(buf.length);
    }
    res.writeHead(status, headers);
    res.end(status === 204 ? undefined : buf);
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.url === '/push' || req.url?.endsWith('/push')) {
      if (this.pushHandler) return this.pushHandler(req, res);
      const body = await readAll(req);
      const parsed = parseResponse(body);
      const id = parsed.head.headers.get(HEADER_ID) ?? '';
      this.pushes.push({ peerCN: peerCN(req), headers: req.headers, body, at: performance.now(), parsed, id });
      const status = this.pushStatus(id);
      if (status === 200 && this.mode === 'ours' && this.pushPoll && req.headers[HEADER_PUSH_POLL.toLowerCase()]) {
        this.pushPolls++;
        this.#pushPollRes.add(res);
        res.on('close', () => {
          const i = this.held.indexOf(res);
          if (i >= 0) this.held.splice(i, 1);
        });
        this.#hold(res);
        if (this.pushPollHeadEarly && !res.headersSent) {
          res.writeHead(200, { ...this.#featureHeaders(), [HEADER_PUSH_POLL]: PUSH_POLL_ACCEPTED });
          res.flushHeaders();
        }
        return;
      }
      res.writeHead(status, { 'Content-Length': status === 200 ? '0' : '17' });
      res.end(status === 200 ? undefined : 'no such scrape id');
      return;
    }
    if (!req.url?.endsWith('/poll')) {
      res.writeHead(404).end('404 page not found\n');
      return;
    }
    this.activePolls++;
    this.maxActivePolls = Math.max(this.maxActivePolls, this.activePolls);
    let open = true;
    const done = (): void => {
      if (open) this.activePolls--;
      open = false;
      const i = this.held.indexOf(res);
      if (i >= 0) this.held.splice(i, 1);
    };
    res.on('close', done);
    res.on('finish', done);
    const poll: RecordedPoll = { peerCN: peerCN(req), headers: req.headers, body: (await readAll(req)).toString(), at: performance.now() };
    this.polls.push(poll);
    const override = this.pollOverride?.(poll, this.polls.length - 1);
    if (override) return this.#reply(res, override.status, override.body ?? '', override.headers);
    if (this.mode === 'ours' && req.headers[HEADER_HELLO.toLowerCase()] === '1') return this.#reply(res, 204, '');
    this.#hold(res);
  }

  #hold(res: http.ServerResponse): void {
    const queued = this.#queued.shift();
    if (queued) return this.#reply(res, 200, queued);
    if (this.mode === 'upstream') {
      const old = this.held.shift();
      if (old) this.#reply(old, 408, 'Error WaitForScrapeInstruction: request is expired\n');
    }
    this.held.push(res);
    this.maxHeld = Math.max(this.maxHeld, this.held.length);
  }
}

export interface Exporter {
  readonly server: http.Server;
  readonly port: number;
  readonly requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[] }>;
  close(): Promise<void>;
}

export async function startExporter(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<Exporter> {
  const requests: Exporter['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
    handler(req, res);
  });
  const port = await listen(server);
  return { server, port, requests, close: () => closeServer(server) };
}

export const METRICS_TEXT = '# HELP demo_static_metric A static demo metric.\n# TYPE demo_static_metric gauge\ndemo_static_metric{kind="fixture"} 42\n';

/**
 * An upstream-mode FakeProxy, two exporters serving METRICS_TEXT, and a
 * client started with `--allow-port` naming only the first; all closed after `t`.
 */
export async function allowPortRig(t: { after(fn: () => unknown): void }): Promise<{
  proxy: FakeProxy;
  allowed: Exporter;
  forbidden: Exporter;
  client: RunningClient;
}> {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const allowed = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => allowed.close());
  const forbidden = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => forbidden.close());
  const client = await startClient(testConfig(proxy.url, { scrapePolicy: scrapePolicy({ allowPorts: [allowed.port] }) }), { env: {} });
  t.after(() => client.stop());
  return { proxy, allowed, forbidden, client };
}

export function testConfig(proxyUrl: string, overrides: Partial<ClientConfig> = {}): ClientConfig {
  const base = proxyUrl.replace(/\/+$/, '') + '/';
  return Object.freeze({
    fqdn: FQDN,
    authorization: undefined,
    proxyUrl: base,
    pollUrl: new URL('poll', base).href,
    pushUrl: new URL('push', base).href,
    tls: {},
    metricsAddr: undefined,
    retryInitialWaitMs: 20,
    retryMaxWaitMs: 60,
    retryFastPeriodMs: 0,
    scrapeConcurrency: 4,
    // Polling, upstream's protocol; tests of the channel ask for it.
    channel: false,
    shutdownTimeoutMs: 2000,
    scrapePolicy: DEFAULT_SCRAPE_POLICY,
    logLevel: 'info',
    logFormat: 'logfmt',
    ...overrides,
  });
}

/** Current value of a counter in a prom-client registry. */
export async function counterValue(registry: { getSingleMetric(name: string): unknown }, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name) as { get(): Promise<{ values: Array<{ value: number }> }> } | undefined;
  if (!metric) throw new Error(`no metric ${name}`);
  return (await metric.get()).values[0]?.value ?? 0;
}

export { WireHeaders };

export async function waitForAsync(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

/** A Logger that records lines, for asserting what is logged at which level. */
export function recordingLogger(lines: LogLine[], debugEnabled = false): import('@pushprox/shared').Logger {
  const make = (base: Readonly<Record<string, unknown>>): import('@pushprox/shared').Logger => ({
    debug: (msg, fields) => void (debugEnabled && lines.push({ level: 'debug', msg, fields: { ...base, ...fields } })),
    info: (msg, fields) => void lines.push({ level: 'info', msg, fields: { ...base, ...fields } }),
    warn: (msg, fields) => void lines.push({ level: 'warn', msg, fields: { ...base, ...fields } }),
    error: (msg, fields) => void lines.push({ level: 'error', msg, fields: { ...base, ...fields } }),
    child: (fields) => make({ ...base, ...fields }),
    debugEnabled,
  });
  return make({});
}
