/**
 * Raw-socket pieces of the client chaos test (chaos-client.test.ts): an
 * incremental HTTP/1.1 request reader for a `net` server that plays the
 * proxy or the exporter, and the faults a hostile peer applies at a byte
 * offset of what it sends. Every socket here has an 'error' listener from
 * the moment it is accepted until it is gone.
 */
import { readdirSync } from 'node:fs';
import type net from 'node:net';
import { mulberry32 } from '@pushprox/shared/testing';

/** What a hostile peer does at the offset: RST, FIN (half-close), garbage then FIN, or go silent. */
export type Fault = 'reset' | 'end' | 'garbage' | 'stall';
export const FAULTS: readonly Fault[] = ['reset', 'end', 'garbage', 'stall'];

export interface WireRequest {
  readonly method: string;
  readonly target: string;
  /** Lower-case names; a repeated field keeps its last value. */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
}

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Decodes a chunked body at `buf[from..]`; undefined while incomplete. Throws on bad framing. */
function dechunk(buf: Buffer, from: number): { body: Buffer; end: number } | undefined {
  const parts: Buffer[] = [];
  let at = from;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const size = parseInt(buf.toString('latin1', at, eol).split(';')[0]!, 16);
    if (!Number.isFinite(size) || size < 0) throw new Error(`bad chunk size line at ${at}`);
    if (size === 0) {
      const end = buf.indexOf('\r\n\r\n', eol);
      return end < 0 ? undefined : { body: Buffer.concat(parts), end: end + 4 };
    }
    if (buf.length < eol + 2 + size + 2) return undefined;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

export interface RequestHandlers {
  onRequest(req: WireRequest): void;
  onUpgrade?(req: WireRequest, rest: Buffer): void;
  onBodyBytes?(req: Omit<WireRequest, 'body'>, bytes: number): void;
}

/**
 * Requests as they complete on one keep-alive connection. An upgrade request
 * ends the HTTP part: `onUpgrade` gets the bytes read past its head.
 * `onBodyBytes` is told how many body bytes of the current request have arrived.
 */
export class RequestReader {
  #buf: Buffer = Buffer.alloc(0);
  #head: { method: string; target: string; headers: Map<string, string>; bodyAt: number } | undefined;
  #upgraded = false;
  readonly #handlers: RequestHandlers;

  constructor(handlers: RequestHandlers) {
    this.#handlers = handlers;
  }

  /** Throws on bytes that are not HTTP/1.1 requests. */
  push(chunk: Buffer): void {
    if (this.#upgraded) return;
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    while (this.#buf.length > 0 && !this.#upgraded) {
      if (!this.#head) {
        const end = this.#buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.#buf.length > MAX_HEAD_BYTES) throw new Error('request head too long');
          return;
        }
        const [line = '', ...fields] = this.#buf.toString('latin1', 0, end).split('\r\n');
        const [method = '', target = ''] = line.split(' ');
        const headers = new Map<string, string>();
        for (const f of fields) {
          const colon = f.indexOf(':');
          if (colon > 0) headers.set(f.slice(0, colon).trim().toLowerCase(), f.slice(colon + 1).trim());
        }
        this.#head = { method, target, headers, bodyAt: end + 4 };
        if (headers.has('upgrade')) {
          this.#upgraded = true;
          const rest = this.#buf.subarray(end + 4);
          this.#buf = Buffer.alloc(0);
          this.#head = undefined;
          this.#handlers.onUpgrade?.({ method, target, headers, body: Buffer.alloc(0) }, rest);
          return;
        }
      }
      const head = this.#head;
      const got = this.#buf.length - head.bodyAt;
      if (got > 0) this.#handlers.onBodyBytes?.(head, got);
      let body: Buffer;
      let end: number;
      if (head.headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
        if (got > MAX_BODY_BYTES) throw new Error('chunked body too long');
        const done = dechunk(this.#buf, head.bodyAt);
        if (!done) return;
        ({ body, end } = done);
      } else {
        const length = Number(head.headers.get('content-length') ?? '0');
        if (!Number.isSafeInteger(length) || length < 0 || length > MAX_BODY_BYTES) throw new Error('bad content-length');
        if (got < length) return;
        body = this.#buf.subarray(head.bodyAt, head.bodyAt + length);
        end = head.bodyAt + length;
      }
      this.#head = undefined;
      this.#buf = this.#buf.subarray(end);
      this.#handlers.onRequest({ method: head.method, target: head.target, headers: head.headers, body: Buffer.from(body) });
    }
  }
}

/** Deterministic garbage: bytes no HTTP parser or frame reader should take for a valid continuation. */
export function garbage(seed: number, length = 48): Buffer {
  const rnd = mulberry32(seed);
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rnd() * 256);
  // A control byte first: not a token, a digit, a CRLF or a known frame type.
  out[0] = 0x00;
  return out;
}

export interface FaultOptions {
  /** How long a stalled peer stays silent. */
  readonly stallMs: number;
  /** After the stall, send the rest (a slow peer); false: stay silent until the other side gives up. */
  readonly resume: boolean;
  /** How long a peer that sent garbage waits for the other side to close before it half-closes itself. */
  readonly garbageGraceMs: number;
  readonly seed: number;
  /** The peer has given up on this socket: the other side must close it (see fd accounting). */
  doom(socket: net.Socket): void;
}

function writeAll(socket: net.Socket, bytes: Buffer): Promise<void> {
  if (bytes.length === 0 || socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => socket.write(bytes, () => resolve()));
}

/** Lets the other side read what was written, so that the fault hits it mid-message. */
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sends `bytes[0, offset)`, then applies `fault` (see Fault). Resolves when the peer's part is done. */
export async function deliver(socket: net.Socket, bytes: Buffer, offset: number, fault: Fault, opts: FaultOptions): Promise<void> {
  await writeAll(socket, bytes.subarray(0, offset));
  await pause(1);
  if (socket.destroyed) return;
  switch (fault) {
    case 'reset':
      opts.doom(socket);
      socket.resetAndDestroy();
      return;
    case 'end':
      opts.doom(socket);
      socket.end();
      return;
    case 'garbage':
      opts.doom(socket);
      await writeAll(socket, garbage(opts.seed));
      await pause(opts.garbageGraceMs);
      socket.end();
      return;
    case 'stall':
      // Silent after the whole message is only an idle keep-alive connection, which the client may keep.
      if (!opts.resume) return void (offset < bytes.length && opts.doom(socket));
      await pause(opts.stallMs);
      await writeAll(socket, bytes.subarray(offset));
      return;
  }
}

/** Every offset 0 … length (the last: the whole message, then the fault on the idle connection). */
export function everyOffset(length: number): number[] {
  return Array.from({ length: length + 1 }, (_, i) => i);
}

/** `count` offsets spread over 0 … length, always including both ends. */
export function sampledOffsets(length: number, count: number): number[] {
  if (count >= length + 1) return everyOffset(length);
  const out = new Set<number>([0, length]);
  for (let i = 1; out.size < count && i < count; i++) out.add(Math.round((i * length) / (count - 1)));
  return [...out].sort((a, b) => a - b);
}

/**
 * The sockets a test server holds. A socket is doomed once the server has
 * given up on it (reset, half-closed, garbage, stalled for good): the client
 * must close it, so doomed sockets do not count as the client's legitimate
 * connections in the descriptor accounting.
 */
export class SocketTracker {
  readonly #open = new Set<net.Socket>();
  readonly #doomed = new WeakSet<net.Socket>();

  add(socket: net.Socket): void {
    this.#open.add(socket);
    socket.on('close', () => this.#open.delete(socket));
  }

  doom(socket: net.Socket): void {
    this.#doomed.add(socket);
  }

  isDoomed(socket: net.Socket): boolean {
    return this.#doomed.has(socket);
  }

  /** Open and not doomed: connections the client may legitimately keep. */
  get live(): number {
    let n = 0;
    for (const s of this.#open) if (!this.#doomed.has(s)) n++;
    return n;
  }

  /** Doomed but still open: the client has not closed them (yet). */
  get lingering(): number {
    return this.#open.size - this.live;
  }

  /** Cuts the doomed sockets the client left open (after a leak was reported). */
  destroyDoomed(): void {
    for (const s of this.#open) if (this.#doomed.has(s)) s.destroy();
  }

  destroyAll(): void {
    for (const s of this.#open) s.destroy();
  }
}

/** Open file descriptors of a process (Linux). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
