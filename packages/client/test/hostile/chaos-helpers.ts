/**
 * The case runner of the client chaos test: one real client process
 * (dist/src/main.js) reused across cases; after each case it checks that the
 * process still runs, that a normal poll → scrape → push round trip succeeds,
 * and that the client holds exactly the descriptors its live connections
 * explain (see SocketTracker).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { HostileExporter } from './chaos-exporter.js';
import type { HostileProxy } from './chaos-proxy.js';
import { fdCount, type Fault } from './chaos-wire.js';
import { FQDN, METRICS_TEXT, scrapeRequest } from '../helpers.js';

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'main.js');
const STDERR_KEEP = 16 * 1024;

/** The real client as a child process; its stderr tail is kept for failure messages. */
export class ChaosClient {
  readonly child: ChildProcess;
  #stderr = '';

  constructor(args: readonly string[]) {
    this.child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (d: string) => {
      this.#stderr = (this.#stderr + d).slice(-STDERR_KEEP);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  stderrTail(bytes = 2000): string {
    return this.#stderr.slice(-bytes);
  }

  /** SIGTERM, then SIGKILL by PID if it has not exited within `ms`. */
  async stop(ms = 5000): Promise<void> {
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.alive && this.child.kill('SIGKILL'), ms);
    await exited;
    clearTimeout(timer);
  }
}

/** Flags that make failed polls cheap: the back-off starts at 1 ms and stays under 5 ms (±50 % jitter). */
export function clientArgs(proxyUrl: string, extra: readonly string[] = []): string[] {
  return [
    `--proxy-url=${proxyUrl}`,
    `--fqdn=${FQDN}`,
    '--metrics-addr=',
    '--proxy.retry.initial-wait=1ms',
    '--proxy.retry.max-wait=5ms',
    '--scrape.concurrency=2',
    ...extra,
  ];
}

export interface CaseName {
  readonly peer: 'proxy' | 'exporter';
  readonly exchange: string;
  readonly offset: number;
  readonly fault: Fault;
}

function rssBytes(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Longest wait for the round trip after a case; a healthy client takes milliseconds. */
const ROUND_TRIP_MS = 10_000;
/** Longest wait for the descriptors to match the live connections (covers the 0.5 s scrape deadlines of stall cases). */
const SETTLE_MS = 5000;
/** A run stops after this many failures: the first ones name the bug. */
const MAX_FAILURES = 20;

export class ChaosRun {
  readonly failures: string[] = [];
  readonly counts = new Map<string, number>();
  readonly #proxy: HostileProxy;
  readonly #exporter: HostileExporter;
  readonly #args: readonly string[];
  #client: ChaosClient | undefined;
  #base = 0;
  #rssStart: number | undefined;
  cases = 0;
  roundTrips = 0;
  /** Milliseconds spent applying faults, in round trips and waiting for descriptors to settle. */
  readonly spent = { act: 0, roundTrip: 0, settle: 0 };
  restarts = 0;
  readonly startedAt = performance.now();

  constructor(proxy: HostileProxy, exporter: HostileExporter, args: readonly string[]) {
    this.#proxy = proxy;
    this.#exporter = exporter;
    this.#args = args;
  }

  get client(): ChaosClient {
    return this.#client!;
  }

  get exhausted(): boolean {
    return this.failures.length >= MAX_FAILURES;
  }

  /** Spawns the client, waits until it polls (or holds a channel), proves one round trip and takes the descriptor baseline. */
  async start(): Promise<void> {
    this.#client = new ChaosClient(this.#args);
    const ready = (): boolean => (this.#proxy.mode === 'channel' ? this.#proxy.channels >= 1 : this.#proxy.heldPolls >= 1);
    const end = performance.now() + 15_000;
    while (!ready()) {
      if (performance.now() > end || !this.client.alive) throw new Error(`client never got ready:\n${this.client.stderrTail()}`);
      await delay(10);
    }
    await this.#roundTrip();
    await this.#rebase();
    this.#rssStart ??= rssBytes(this.client.pid);
  }

  async stop(): Promise<void> {
    await this.#client?.stop();
  }

  /** The liveness, round-trip and descriptor checks after `act` (which applies the fault). */
  async case(name: CaseName, act: () => Promise<void>, actTimeoutMs = 10_000): Promise<void> {
    if (this.exhausted) return;
    const label = `${name.peer}/${name.exchange}@${name.offset}/${name.fault}`;
    const key = `${name.peer}/${name.exchange}/${name.fault}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.cases++;
    let at = performance.now();
    const lap = (phase: keyof ChaosRun['spent']): void => {
      const now = performance.now();
      this.spent[phase] += now - at;
      at = now;
    };
    try {
      await withTimeout(act(), actTimeoutMs, 'the fault to be applied');
    } catch (err) {
      this.#fail(`${label}: ${(err as Error).message}`);
      this.#proxy.disarm();
      this.#exporter.disarm();
    }
    lap('act');
    // A connection given up on at the very end of a message is idle: the client may reuse it
    // in the instant before its FIN arrives (the keep-alive race), so the round trip waits for the close.
    if (name.fault !== 'stall') await this.#closed(1000);
    if (!this.client.alive) {
      const { exitCode, signalCode } = this.client.child;
      this.#fail(`${label}: the client exited (code ${exitCode}, signal ${signalCode}):\n${this.client.stderrTail()}`);
      this.restarts++;
      await this.start();
      return;
    }
    try {
      await this.#roundTrip();
    } catch (err) {
      this.#fail(`${label}: round trip after the fault failed: ${(err as Error).message}\n${this.client.stderrTail(800)}`);
      return;
    }
    lap('roundTrip');
    const leak = await this.#settle();
    lap('settle');
    if (leak) {
      this.#fail(`${label}: ${leak}`);
      this.#proxy.sockets.destroyDoomed();
      this.#exporter.sockets.destroyDoomed();
      await delay(200);
      await this.#rebase();
    }
  }

  summary(what: string): string {
    const seconds = ((performance.now() - this.startedAt) / 1000).toFixed(1);
    const by = [...this.counts].map(([k, n]) => `${k}=${n}`).join(' ');
    const rss = this.client.alive ? `, client RSS ${mib(this.#rssStart ?? 0)} → ${mib(rssBytes(this.client.pid))} MiB` : '';
    return `chaos ${what}${rss}: ${this.cases} (peer, exchange, offset, fault) cases and ${this.roundTrips} round trips in ${seconds} s, ${this.failures.length} failures, ${this.restarts} restarts (ms in faults ${this.spent.act.toFixed(0)}, round trips ${this.spent.roundTrip.toFixed(0)}, settling ${this.spent.settle.toFixed(0)}); ${by}`;
  }

  async #roundTrip(): Promise<void> {
    const { bytes, id } = scrapeRequest({ target: `http://${FQDN}:${this.#exporter.port}/metrics`, timeoutSeconds: '10' });
    void this.#proxy.scrape(bytes);
    const push = await this.#proxy.waitPush(id, ROUND_TRIP_MS);
    if (push.status !== 200 || push.body.toString() !== METRICS_TEXT) {
      throw new Error(`push ${push.status} ${JSON.stringify(push.body.subarray(0, 200).toString())}`);
    }
    if (this.#proxy.mode === 'channel' && push.via !== 'channel') throw new Error('the round trip came over /push: the channel was lost');
    this.roundTrips++;
  }

  /** Failures also go to stderr as they happen: a long run shows its first failure at once. */
  #fail(message: string): void {
    this.failures.push(message);
    process.stderr.write(`chaos failure: ${message.split('\n')[0]}\n`);
  }

  async #closed(ms: number): Promise<void> {
    const end = performance.now() + ms;
    while (this.#proxy.sockets.lingering + this.#exporter.sockets.lingering > 0 && performance.now() < end) await delay(1);
  }

  #unexplained(): number {
    return fdCount(this.client.pid) - this.#proxy.sockets.live - this.#exporter.sockets.live;
  }

  /** Descriptors not explained by live connections: constant for a client that leaks none. */
  async #rebase(): Promise<void> {
    let last = this.#unexplained();
    for (let same = 0; same < 3; ) {
      await delay(20);
      const now = this.#unexplained();
      same = now === last ? same + 1 : 0;
      last = now;
    }
    this.#base = last;
  }

  /** Undefined once the descriptors match the live connections twice in a row; else what is left over. */
  async #settle(): Promise<string | undefined> {
    const end = performance.now() + SETTLE_MS;
    let matched = 0;
    for (;;) {
      const extra = this.#unexplained() - this.#base;
      matched = extra === 0 ? matched + 1 : 0;
      if (matched >= 2) return undefined;
      if (performance.now() > end) {
        return `${extra} descriptors more than the live connections explain after ${SETTLE_MS} ms (sockets the proxy or exporter gave up on and the client still holds: ${this.#proxy.sockets.lingering} at the proxy, ${this.#exporter.sockets.lingering} at the exporter)`;
      }
      await delay(1);
    }
  }
}
