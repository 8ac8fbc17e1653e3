import net from 'node:net';
import { isFieldValue, isRequestTarget, isToken } from '@pushprox/shared';
import type { RelayedResponse } from './response.js';
import { ChunkedDecoder, parseHead, ResponseParseError, type ResponseHead } from './response-parser.js';
import { PlainBody, wholeResponse } from './plain-body.js';
import { CLOSED_BEFORE_ANSWER, IDLE_CONN_TIMEOUT_MS, PlainConn } from './plain-conn.js';

/**
 * The scrape of a plain-http exporter (GET or HEAD, no body, no forward
 * proxy): one request written as one string on a kept-alive socket, the
 * response framed by response-parser.ts. At one scrape every few seconds
 * undici's request path runs cold on every scrape and costs the client about
 * 0.4 ms more CPU per scrape than this does (BENCHMARKS.md, Real scrape
 * rates); TLS, forward proxies, request bodies and every other method stay
 * on undici (scrape.ts decides).
 *
 * Connections: per origin at most `maxIdlePerOrigin` idle ones, kept
 * `idleTimeoutMs` or, shorter, the server's `Keep-Alive: timeout=` less 1 s;
 * at most MAX_ORIGINS origins. A reused connection that closes before any
 * answer is retried once on a new one, as Go's client retries idempotent
 * requests.
 */
export interface PlainHttpOptions {
  /** How long an idle connection is kept when the server sends no Keep-Alive hint. Default IDLE_CONN_TIMEOUT_MS (90 s, Go's). */
  readonly idleTimeoutMs?: number;
  /** Idle connections kept per origin. Default 16. */
  readonly maxIdlePerOrigin?: number;
  /** Largest response head accepted. Default 16 KiB (undici's and Node's). */
  readonly maxHeadBytes?: number;
}

export interface PlainRequest {
  readonly host: string;
  readonly port: number;
  /** The Host field: host[:port] as in the target's URL. */
  readonly hostHeader: string;
  readonly method: 'GET' | 'HEAD';
  /** Origin-form: path and query. */
  readonly path: string;
  /** Flat [name, value, …], already validated (see writableRequest). */
  readonly headers: readonly string[];
  readonly signal: { readonly aborted: boolean; readonly reason: Error | undefined; once(e: 'abort', f: () => void): unknown; off(e: 'abort', f: () => void): unknown };
}

/** Bodies of at most this size that arrive with their head are handed over whole (RelayedResponse.whole), as push.ts coalesces them. */
const WHOLE_MAX_BYTES = 64 * 1024;
/** Origins whose idle connections are kept; past this the least recently used origin's are closed. */
const MAX_ORIGINS = 256;
/** The margin kept under a server's Keep-Alive timeout, as undici's. */
const KEEP_ALIVE_MARGIN_MS = 1000;

/** The request's head as it goes on the wire, or undefined when a path or field could not be written safely (undici then decides). */
export function writableRequest(r: Omit<PlainRequest, 'signal' | 'host' | 'port'>): string | undefined {
  if (!r.path.startsWith('/') || !isRequestTarget(r.path) || !isFieldValue(r.hostHeader)) return undefined;
  let head = `${r.method} ${r.path} HTTP/1.1\r\nHost: ${r.hostHeader}\r\n`;
  for (let i = 0; i + 1 < r.headers.length; i += 2) {
    const name = r.headers[i]!;
    const value = r.headers[i + 1]!;
    if (!isToken(name) || !isFieldValue(value)) return undefined;
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

export class PlainHttp {
  readonly #idleTimeoutMs: number;
  readonly #maxIdle: number;
  readonly #maxHead: number;
  /** Idle connections by origin key, most recently used origin last. */
  readonly #idle = new Map<string, PlainConn[]>();
  #closed = false;

  constructor(opts: PlainHttpOptions = {}) {
    this.#idleTimeoutMs = opts.idleTimeoutMs ?? IDLE_CONN_TIMEOUT_MS;
    this.#maxIdle = opts.maxIdlePerOrigin ?? 16;
    this.#maxHead = opts.maxHeadBytes ?? 16 * 1024;
  }

  /** Idle connections kept now, over all origins. */
  get idleCount(): number {
    let n = 0;
    for (const list of this.#idle.values()) n += list.length;
    return n;
  }

  /** Sends the request; resolves at the response head (1xx skipped) with the body streaming. */
  async request(r: PlainRequest, head: string): Promise<RelayedResponse> {
    if (r.signal.aborted) throw r.signal.reason ?? new Error('aborted');
    const key = `${r.host}\0${r.port}`;
    const reused = this.#take(key);
    if (reused === undefined) return this.#exchange(this.#connect(r), r, head, key);
    try {
      return await this.#exchange(reused, r, head, key);
    } catch (err) {
      // Only a connection that sent nothing back: a partial answer is the exporter's, not a stale socket's.
      if (r.signal.aborted || reused.gotBytes || !CLOSED_BEFORE_ANSWER.has((err as { code?: string }).code ?? '')) throw err;
      return this.#exchange(this.#connect(r), r, head, key);
    }
  }

  /** Closes every idle connection; later requests still work, on new ones. */
  close(): void {
    this.#closed = true;
    for (const list of this.#idle.values()) for (const c of list) c.destroy();
    this.#idle.clear();
  }

  #connect(r: PlainRequest): PlainConn {
    return new PlainConn(net.connect({ host: r.host, port: r.port, noDelay: true }));
  }

  #take(key: string): PlainConn | undefined {
    const list = this.#idle.get(key);
    for (let c = list?.pop(); c !== undefined; c = list!.pop()) {
      if (c.takeFromIdle()) return c;
    }
    return undefined;
  }

  #release(c: PlainConn, key: string, res: ResponseHead): void {
    const keepMs = Math.min(this.#idleTimeoutMs, res.keepAliveMs === undefined ? Infinity : res.keepAliveMs - KEEP_ALIVE_MARGIN_MS);
    let list = this.#idle.get(key);
    if (!res.reusable || this.#closed || keepMs <= 0 || (list !== undefined && list.length >= this.#maxIdle)) return c.destroy();
    if (list === undefined) {
      if (this.#idle.size >= MAX_ORIGINS) {
        const [oldest, conns] = this.#idle.entries().next().value as [string, PlainConn[]];
        for (const old of conns) old.destroy();
        this.#idle.delete(oldest);
      }
      list = [];
    } else this.#idle.delete(key);
    this.#idle.set(key, list);
    const idle = list;
    c.park(keepMs, () => {
      const at = idle.indexOf(c);
      if (at >= 0) idle.splice(at, 1);
    });
    idle.push(c);
  }

  #exchange(c: PlainConn, r: PlainRequest, head: string, key: string): Promise<RelayedResponse> {
    return new Promise<RelayedResponse>((resolve, reject) => {
      let pending: Buffer | undefined;
      let body: PlainBody | undefined;
      let parsed: ResponseHead | undefined;
      let chunked: ChunkedDecoder | undefined;
      let left = 0;
      const onAbort = (): void => fail(r.signal.reason ?? new Error('aborted'));
      /** The response is read: the connection goes back to the pool, or is closed. */
      const done = (rest: Buffer | undefined): void => {
        r.signal.off('abort', onAbort);
        c.detach();
        // Bytes after the response: the exporter does not frame as it says; never reuse.
        if (rest !== undefined && rest.length > 0) c.destroy();
        else this.#release(c, key, parsed!);
      };
      const finish = (rest: Buffer | undefined): void => {
        done(rest);
        body!.finish();
      };
      /** The exchange ends without a complete response; `closed`: the exporter closed the connection. */
      const fail = (err: Error, closed = false): void => {
        r.signal.off('abort', onAbort);
        c.detach();
        c.destroy();
        if (body === undefined) reject(err);
        // A body delimited by the close ends with it.
        else if (closed && parsed!.framing.kind === 'close') body.finish();
        else body.break(err);
      };
      const onBody = (buf: Buffer): void => {
        const framing = parsed!.framing;
        if (framing.kind === 'close') body!.add(buf);
        else if (framing.kind === 'length') {
          const n = Math.min(left, buf.length);
          left -= n;
          body!.add(buf.subarray(0, n));
          if (left === 0) finish(buf.subarray(n));
        } else {
          const out = chunked!.feed(buf);
          for (const d of out.data) body!.add(d);
          if (out.error !== undefined) fail(out.error);
          else if (out.done) finish(out.rest);
        }
      };
      const onData = (buf: Buffer): void => {
        try {
          if (body !== undefined) return onBody(buf);
          pending = pending === undefined ? buf : Buffer.concat([pending, buf]);
          for (;;) {
            const end = pending.indexOf('\r\n\r\n', 0, 'latin1');
            if (end < 0 || end > this.#maxHead) {
              if (pending.length > this.#maxHead) throw new ResponseParseError('HEAD_TOO_LARGE', `response head larger than ${this.#maxHead} bytes`);
              return;
            }
            const h = parseHead(pending.toString('latin1', 0, end), r.method);
            pending = pending.subarray(end + 4);
            // 1xx interim responses are skipped (101 never: no upgrade was asked).
            if (h.status >= 200) {
              parsed = h;
              break;
            }
            if (h.status === 101) throw new ResponseParseError('BAD_HEAD', 'unexpected 101 Switching Protocols');
          }
          const rest = pending;
          pending = undefined;
          const { framing } = parsed;
          // The whole body came with the head (the usual small scrape): no stream to feed.
          if (framing.kind === 'length' && rest.length >= framing.length && framing.length <= WHOLE_MAX_BYTES) {
            done(rest.subarray(framing.length));
            return resolve(wholeResponse(parsed, rest.subarray(0, framing.length)));
          }
          // Dropped by its reader before its end: the connection is in an unknown state.
          body = new PlainBody(c, (err) => c.attached && fail(err ?? new Error('response body dropped before its end')));
          resolve({ statusCode: parsed.status, statusText: parsed.statusText, headers: parsed.headers, body });
          if (framing.kind === 'length') left = framing.length;
          if (framing.kind === 'chunked') chunked = new ChunkedDecoder();
          if (framing.kind === 'none' || (framing.kind === 'length' && left === 0)) return finish(rest);
          if (rest.length > 0) onBody(rest);
        } catch (err) {
          fail(err as Error);
        }
      };
      if (r.signal.aborted) return fail(r.signal.reason ?? new Error('aborted'));
      r.signal.once('abort', onAbort);
      c.attach(onData, fail);
      c.write(head);
    });
  }
}

