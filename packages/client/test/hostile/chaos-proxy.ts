/**
 * The proxy's side of the client chaos test, on a raw `net` server: upstream's
 * polling (poll replies shaped like fixture 03a, push replies like fixture 06)
 * or ours with a channel (hello → 204 offering `channel`, 101, frames). Any
 * exchange can be armed with a fault at a byte offset (see chaos-wire.ts).
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  CHANNEL_PROTOCOL,
  encodeFrame,
  FEATURE_CHANNEL,
  FEATURE_IDLE_REPLY,
  FEATURE_MULTI_POLL,
  FRAME,
  FrameReader,
  HEADER_HELLO,
  HEADER_ID,
  HEADER_PROXY_FEATURES,
  parseResponse,
} from '@pushprox/shared';
import { fixture } from '@pushprox/shared/testing';
import { deliver, RequestReader, SocketTracker, type Fault, type FaultOptions, type WireRequest } from './chaos-wire.js';

export const SWITCHING = Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${CHANNEL_PROTOCOL}\r\n\r\n`);
const FEATURES = `${HEADER_PROXY_FEATURES}: ${FEATURE_MULTI_POLL}, ${FEATURE_IDLE_REPLY}, ${FEATURE_CHANNEL}`;
const HELLO_REPLY = Buffer.from(`HTTP/1.1 204 No Content\r\n${FEATURES}\r\nDate: Sat, 21 Nov 2026 04:18:31 GMT\r\n\r\n`);
/** Fixture 06 as upstream's proxy sends it. */
export const PUSH_REPLY = fixture('06');
const POLL_REPLY_HEAD = fixture('03a').toString('latin1').split('\r\n\r\n')[0]!;

/** A poll reply carrying `body`, with the head of fixture 03a (and our features when `features`). */
export function pollReply(body: Buffer, features = false): Buffer {
  const head = POLL_REPLY_HEAD.replace(/^Content-Length: \d+$/m, `Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(`${head}${features ? `\r\n${FEATURES}` : ''}\r\n\r\n`, 'latin1'), body]);
}

export type ProxyExchange = 'poll-reply' | 'push-reply' | 'push-read' | 'upgrade' | 'frame';

/** Where and how the next exchange of its kind goes wrong. */
export interface Armed {
  readonly offset: number;
  readonly fault: Fault;
  readonly opts: Omit<FaultOptions, 'doom'>;
}

export interface RecordedPush {
  readonly id: string;
  readonly status: number;
  readonly body: Buffer;
  readonly via: 'push' | 'channel';
}

interface Channel {
  readonly socket: net.Socket;
  busy: boolean;
}

interface Outgoing {
  readonly bytes: Buffer;
  readonly armed?: Armed | undefined;
  /** Resolves once the peer's part of the exchange is done. */
  readonly done: (value: void) => void;
}

export class HostileProxy {
  readonly server: net.Server;
  readonly sockets = new SocketTracker();
  readonly #held: net.Socket[] = [];
  readonly #channels = new Set<Channel>();
  readonly #queue: Outgoing[] = [];
  readonly #armed = new Map<'push-reply' | 'push-read' | 'upgrade', { armed: Armed; done: () => void }>();
  readonly #pushes = new Map<string, RecordedPush>();
  readonly mode: 'upstream' | 'channel';
  url = '';
  polls = 0;
  upgrades = 0;

  constructor(mode: 'upstream' | 'channel') {
    this.mode = mode;
    this.server = net.createServer((socket) => this.#accept(socket));
  }

  static async start(mode: 'upstream' | 'channel'): Promise<HostileProxy> {
    const p = new HostileProxy(mode);
    await new Promise<void>((resolve) => p.server.listen(0, '127.0.0.1', resolve));
    p.url = `http://127.0.0.1:${(p.server.address() as net.AddressInfo).port}/`;
    return p;
  }

  close(): Promise<void> {
    this.sockets.destroyAll();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  get heldPolls(): number {
    return this.#held.filter((s) => !s.destroyed).length;
  }

  /** Channels whose socket is open (including ones the proxy has ended and the client not yet closed). */
  get channels(): number {
    return this.#channels.size;
  }

  /** Ends every open channel but one (the client then holds one, and a scrape on it makes the pool open another). */
  keepOneChannel(): void {
    const open = [...this.#channels].filter((c) => !this.sockets.isDoomed(c.socket));
    for (const c of open.slice(1)) this.#end(c.socket);
  }

  /** Hands a scrape request to an idle channel or held poll (or the next one); `armed` breaks its delivery. */
  scrape(request: Buffer, armed?: Armed): Promise<void> {
    return new Promise((done) => {
      this.#queue.push({ bytes: request, armed, done });
      this.#dispatch();
    });
  }

  /** Sends a control frame (PING, ERROR) on an idle channel, broken as `armed` says. */
  async frame(bytes: Buffer, armed: Armed, endAfter: boolean): Promise<void> {
    const channel = [...this.#channels].find((c) => !c.busy && !this.sockets.isDoomed(c.socket));
    if (!channel) throw new Error('no idle channel for a control frame');
    await this.#deliver(channel.socket, bytes, armed);
    // As our proxy ends a channel after its ERROR frame.
    if (endAfter && !this.sockets.isDoomed(channel.socket)) this.#end(channel.socket);
  }

  /** Arms the next push reply, push body or channel upgrade; resolves once that exchange's fault is applied. */
  arm(exchange: 'push-reply' | 'push-read' | 'upgrade', armed: Armed): Promise<void> {
    return new Promise((done) => this.#armed.set(exchange, { armed, done }));
  }

  disarm(): void {
    for (const { done } of this.#armed.values()) done();
    this.#armed.clear();
  }

  async waitPush(id: string, ms: number): Promise<RecordedPush> {
    const end = performance.now() + ms;
    for (;;) {
      const push = this.#pushes.get(id);
      if (push) return push;
      if (performance.now() > end) throw new Error(`no push for ${id} within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  #deliver(socket: net.Socket, bytes: Buffer, armed: Armed): Promise<void> {
    return deliver(socket, bytes, armed.offset, armed.fault, { ...armed.opts, doom: (s) => this.sockets.doom(s) });
  }

  #end(socket: net.Socket): void {
    this.sockets.doom(socket);
    socket.end();
  }

  #accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    const reader = new RequestReader({
      onRequest: (req) => this.#onRequest(socket, req),
      onUpgrade: (req, rest) => this.#onUpgrade(socket, req, rest),
      onBodyBytes: (req, bytes) => this.#onBodyBytes(socket, req.target, bytes),
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.sockets.isDoomed(socket)) return;
      try {
        reader.push(chunk);
      } catch {
        this.#end(socket);
      }
    });
  }

  #onBodyBytes(socket: net.Socket, target: string, bytes: number): void {
    const cut = this.#armed.get('push-read');
    if (!cut || !target.endsWith('/push') || bytes < cut.armed.offset) return;
    this.#armed.delete('push-read');
    if (cut.armed.fault === 'stall') {
      // Reads no more: the client's push meets backpressure, then its scrape deadline.
      this.sockets.doom(socket);
      socket.pause();
      return cut.done();
    }
    void this.#deliver(socket, Buffer.alloc(0), { ...cut.armed, offset: 0 }).then(cut.done);
  }

  #onRequest(socket: net.Socket, req: WireRequest): void {
    // A push whose body arrived with the cut point: the cut stands.
    if (this.sockets.isDoomed(socket)) return;
    if (req.method === 'POST' && req.target.endsWith('/poll')) {
      this.polls++;
      if (this.mode === 'channel' && req.headers.get(HEADER_HELLO.toLowerCase()) === '1') return void socket.write(HELLO_REPLY);
      this.#held.push(socket);
      return this.#dispatch();
    }
    if (req.method === 'POST' && req.target.endsWith('/push')) {
      this.#record(req.body, 'push');
      const armed = this.#armed.get('push-reply');
      if (!armed) return void socket.write(PUSH_REPLY);
      this.#armed.delete('push-reply');
      void this.#deliver(socket, PUSH_REPLY, armed.armed).then(armed.done);
      return;
    }
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  }

  #record(body: Buffer, via: RecordedPush['via']): void {
    try {
      const parsed = parseResponse(body);
      const id = parsed.head.headers.get(HEADER_ID) ?? '';
      this.#pushes.set(id, { id, status: parsed.head.status, body: parsed.body, via });
    } catch {
      // A push the client cut or garbled: not one a round trip waits for.
    }
  }

  #onUpgrade(socket: net.Socket, _req: WireRequest, rest: Buffer): void {
    this.upgrades++;
    const armed = this.#armed.get('upgrade');
    if (armed) {
      this.#armed.delete('upgrade');
      // Whatever the fault, this channel is the case's: it is ended once the fault is applied.
      void this.#deliver(socket, SWITCHING, armed.armed).then(() => {
        if (!this.sockets.isDoomed(socket)) this.#end(socket);
        armed.done();
      });
      return;
    }
    socket.write(SWITCHING);
    const channel: Channel = { socket, busy: false };
    let parts: Buffer[] = [];
    const frames = new FrameReader(
      {
        onData: (bytes) => {
          const cut = this.#armed.get('push-read');
          parts.push(Buffer.from(bytes));
          const got = parts.reduce((n, p) => n + p.length, 0);
          if (!cut || got < cut.armed.offset) return;
          this.#armed.delete('push-read');
          void this.#deliver(socket, Buffer.alloc(0), { ...cut.armed, offset: 0 }).then(cut.done);
        },
        onFrame: (type) => {
          if (type === FRAME.END) {
            this.#record(Buffer.concat(parts), 'channel');
            parts = [];
            channel.busy = false;
            this.#dispatch();
          } else if (type === FRAME.CLOSE) {
            this.#end(socket);
          }
        },
      },
      [FRAME.DATA, FRAME.END, FRAME.PONG, FRAME.CLOSE],
    );
    // The reader above replaces the HTTP one for this socket's later bytes.
    socket.removeAllListeners('data');
    socket.on('data', (chunk: Buffer) => {
      if (this.sockets.isDoomed(socket)) return;
      try {
        frames.push(chunk);
      } catch {
        this.#end(socket);
      }
    });
    socket.on('close', () => {
      this.#channels.delete(channel);
      this.#dispatch();
    });
    this.#channels.add(channel);
    if (rest.length > 0) socket.emit('data', rest);
    this.#dispatch();
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const channel = [...this.#channels].find((c) => !c.busy && !this.sockets.isDoomed(c.socket));
      let socket: net.Socket | undefined;
      let bytes: Buffer;
      const next = this.#queue[0]!;
      if (channel) {
        channel.busy = true;
        socket = channel.socket;
        bytes = encodeFrame(FRAME.REQUEST, next.bytes);
      } else {
        while (this.#held.length > 0 && (socket === undefined || socket.destroyed || this.sockets.isDoomed(socket))) socket = this.#held.shift();
        if (!socket || socket.destroyed || this.sockets.isDoomed(socket)) return;
        bytes = pollReply(next.bytes, this.mode === 'channel');
      }
      this.#queue.shift();
      if (!next.armed) {
        socket.write(bytes);
        next.done();
      } else {
        const s = socket;
        void this.#deliver(s, bytes, next.armed).then(() => next.done());
      }
    }
  }
}
