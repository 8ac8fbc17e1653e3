/**
 * The exporter's side of the client chaos test, on a raw `net` server: it
 * answers every scrape with EXPORTER_OK, unless armed, in which case the next
 * scrape gets one of the responses below broken at a byte offset.
 */
import net from 'node:net';
import { fixture } from '@pushprox/shared/testing';
import { deliver, RequestReader, SocketTracker, type Fault, type FaultOptions } from './chaos-wire.js';
import { METRICS_TEXT } from '../helpers.js';

function withLength(body: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nDate: Sat, 21 Nov 2026 04:18:36 GMT\r\nContent-Length: ${body.length}\r\n\r\n`),
    body,
  ]);
}

/** A well-behaved exporter's answer: METRICS_TEXT with a Content-Length. */
export const EXPORTER_OK = withLength(Buffer.from(METRICS_TEXT));

/** Responses the hostile exporter breaks: small (read whole by the client), gzip chunked (fixture 04b), large (streamed). */
export const EXPORTER_RESPONSES = Object.freeze({
  small: EXPORTER_OK,
  'chunked-gzip': fixture('04b'),
  // Over the client's COALESCE_MAX_BYTES (64 KiB): the push streams it.
  large: withLength(Buffer.from(`big_metric{pad="${'x'.repeat(80)}"} 1\n`.repeat(2000))),
});
export type ExporterResponse = keyof typeof EXPORTER_RESPONSES;

export interface ExporterArmed {
  readonly response: ExporterResponse;
  readonly offset: number;
  readonly fault: Fault;
  readonly opts: Omit<FaultOptions, 'doom'>;
}

export class HostileExporter {
  readonly server: net.Server;
  readonly sockets = new SocketTracker();
  port = 0;
  requests = 0;
  #armed: { armed: ExporterArmed; done: () => void } | undefined;

  constructor() {
    this.server = net.createServer((socket) => this.#accept(socket));
  }

  static async start(): Promise<HostileExporter> {
    const e = new HostileExporter();
    await new Promise<void>((resolve) => e.server.listen(0, '127.0.0.1', resolve));
    e.port = (e.server.address() as net.AddressInfo).port;
    return e;
  }

  close(): Promise<void> {
    this.sockets.destroyAll();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Breaks the next scrape's response; resolves once the fault is applied. */
  arm(armed: ExporterArmed): Promise<void> {
    return new Promise((done) => (this.#armed = { armed, done }));
  }

  disarm(): void {
    this.#armed?.done();
    this.#armed = undefined;
  }

  #accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    const reader = new RequestReader({
      onRequest: () => {
        this.requests++;
        const armed = this.#armed;
        this.#armed = undefined;
        if (!armed) return void socket.write(EXPORTER_OK);
        const { response, offset, fault, opts } = armed.armed;
        void deliver(socket, EXPORTER_RESPONSES[response], offset, fault, { ...opts, doom: (s) => this.sockets.doom(s) }).then(armed.done);
      },
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.sockets.isDoomed(socket)) return;
      try {
        reader.push(chunk);
      } catch {
        this.sockets.doom(socket);
        socket.end();
      }
    });
  }
}
