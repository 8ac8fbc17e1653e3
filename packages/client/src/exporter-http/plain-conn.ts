import type net from 'node:net';

/**
 * How long an idle kept-alive connection is kept, as Go's http.Transport
 * (IdleConnTimeout 90 s, upstream's client) when the server sends no
 * `Keep-Alive: timeout=` (Go servers such as node_exporter send none); a server
 * that sends one is believed, less undici's margin. undici's own default (4 s)
 * made every scrape at Prometheus' 15 s interval open a new connection to its
 * exporter. A server that closes an idle connection as it is reused costs
 * one retry (scrape.ts, sendScrape; plain-http.ts).
 */
export const IDLE_CONN_TIMEOUT_MS = 90_000;

/** Errors of a reused connection that mean it closed before any answer: the request is sent again once, on a new one. */
export const CLOSED_BEFORE_ANSWER: ReadonlySet<string> = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/** The exporter closed the connection (undici's text and code for the same). */
export function closedError(): Error {
  return Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
}

/**
 * One connection of plain-http.ts, busy with an exchange or idle in its
 * pool. Invariant: the socket's 'error', 'close' and 'data' listeners are
 * attached at creation and stay for its whole life, so that an error or
 * bytes arriving when nobody waits (idle, or after the exchange ended) are
 * handled: the connection is destroyed and leaves its pool.
 */
export class PlainConn {
  readonly #socket: net.Socket;
  #onData: ((buf: Buffer) => void) | undefined;
  #onFail: ((err: Error, closed: boolean) => void) | undefined;
  /** Called once when an idle connection goes (its pool drops it). */
  #onGone: (() => void) | undefined;
  /**
   * Made at the first park and refreshed at each later one (a timer made per
   * park cost about 35 µs of cold JavaScript per scrape): taking the
   * connection leaves it armed, and a firing while busy does nothing.
   */
  #idleTimer: NodeJS.Timeout | undefined;
  #idleMs = 0;
  #state: 'busy' | 'idle' | 'gone' = 'busy';
  /** Any byte arrived since the exchange was attached. */
  gotBytes = false;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on('data', (buf: Buffer) => {
      this.gotBytes = true;
      // Bytes nobody asked for (idle, or after a complete response): the stream is out of step.
      if (this.#onData === undefined) this.destroy();
      else this.#onData(buf);
    });
    socket.on('error', (err: Error) => this.#gone(err));
    socket.on('close', () => this.#gone(undefined));
  }

  /** The exchange now using this connection receives its bytes and its end. */
  attach(onData: (buf: Buffer) => void, onFail: (err: Error, closed: boolean) => void): void {
    this.#onData = onData;
    this.#onFail = onFail;
    this.gotBytes = false;
  }

  /** The exchange is over; the connection is then parked or destroyed. */
  detach(): void {
    this.#onData = undefined;
    this.#onFail = undefined;
  }

  get attached(): boolean {
    return this.#onFail !== undefined;
  }

  write(head: string): void {
    this.#socket.write(head, 'latin1');
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    if (this.#state === 'busy') this.#socket.resume();
  }

  /** Idle in a pool for at most `ms`; `onGone` runs if it closes or times out before it is taken. */
  park(ms: number, onGone: () => void): void {
    this.#state = 'idle';
    this.#onGone = onGone;
    // An idle connection never keeps the process alive; it is read, so that a close or stray bytes are seen.
    this.#socket.unref();
    this.#socket.resume();
    if (this.#idleTimer !== undefined && this.#idleMs === ms) {
      this.#idleTimer.refresh();
      return;
    }
    clearTimeout(this.#idleTimer);
    this.#idleMs = ms;
    this.#idleTimer = setTimeout(() => {
      if (this.#state === 'idle') this.destroy();
    }, ms);
    this.#idleTimer.unref();
  }

  /** True if it was idle and is now busy again; false if it is gone. */
  takeFromIdle(): boolean {
    if (this.#state !== 'idle' || this.#socket.destroyed) return false;
    this.#onGone = undefined;
    this.#state = 'busy';
    this.#socket.ref();
    return true;
  }

  destroy(): void {
    this.#leave();
    this.#socket.destroy();
  }

  #leave(): void {
    if (this.#state === 'gone') return;
    this.#state = 'gone';
    clearTimeout(this.#idleTimer);
    const gone = this.#onGone;
    this.#onGone = undefined;
    gone?.();
  }

  #gone(err: Error | undefined): void {
    this.#leave();
    const fail = this.#onFail;
    this.detach();
    fail?.(err ?? closedError(), err === undefined);
  }
}
