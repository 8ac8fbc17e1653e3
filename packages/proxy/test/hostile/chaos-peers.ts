import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { connectResettableTls } from '@pushprox/shared/testing';

/**
 * A hostile peer's moves for the socket-chaos test: a connection (plain, or
 * TLS over a TCP socket the test can reset), some bytes of a message, then a
 * fault.
 */

export const FAULTS = ['reset', 'half-close', 'garbage', 'stall'] as const;
export type Fault = (typeof FAULTS)[number];

export interface Conn {
  /** What the test writes to: the TCP socket, or the TLS socket over it. */
  readonly sock: net.Socket;
  /** The TCP socket, for a reset. */
  readonly raw: net.Socket;
  /** Resolves once the peer closed (or we did). */
  readonly closed: Promise<void>;
  /** Every byte the proxy sent, as latin1 (bounded to 64 KiB). */
  received(): string;
}

const RECEIVED_LIMIT = 64 * 1024;

/** Opens a connection; with `secure`, completes a TLS handshake over it first. */
export function openConn(port: number, secure: boolean): Promise<Conn> {
  return new Promise((resolve, reject) => {
    let raw: net.Socket;
    let sock: net.Socket;
    if (secure) {
      const c = connectResettableTls({ host: '127.0.0.1', port, rejectUnauthorized: false });
      raw = c.raw;
      sock = c.tls;
    } else {
      raw = sock = net.connect({ host: '127.0.0.1', port });
      raw.on('error', () => undefined);
    }
    let got = '';
    sock.on('data', (c: Buffer) => {
      if (got.length < RECEIVED_LIMIT) got += c.toString('latin1');
    });
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    const conn: Conn = { sock, raw, closed, received: () => got };
    const failed = () => reject(new Error('connection closed before it was ready'));
    sock.once('close', failed);
    sock.once(secure ? 'secureConnect' : 'connect', () => {
      sock.off('close', failed);
      resolve(conn);
    });
  });
}

function written(sock: net.Socket, bytes: Buffer): Promise<void> {
  if (bytes.length === 0 || sock.destroyed) return Promise.resolve();
  return new Promise((resolve) => sock.write(bytes, () => resolve()));
}

/**
 * Writes the first `offset` bytes of `message`, then:
 * - reset: a TCP RST (SO_LINGER 0), once those bytes have left;
 * - half-close: a FIN, then read until the proxy closes;
 * - garbage: 64 random bytes and a FIN;
 * - stall: nothing more; the connection stays open (the caller ends it).
 */
export async function strike(conn: Conn, message: Buffer, offset: number, fault: Fault): Promise<void> {
  await written(conn.sock, message.subarray(0, offset));
  if (fault === 'reset') {
    // On loopback the bytes are in the proxy's receive queue once written; the RST follows them.
    await new Promise((r) => setImmediate(r));
    if (!conn.raw.destroyed) conn.raw.resetAndDestroy();
  } else if (fault === 'half-close') {
    conn.sock.end();
  } else if (fault === 'garbage') {
    await written(conn.sock, randomBytes(64));
    conn.sock.end();
  }
}

/** Every offset of a message up to 320 bytes; beyond, the first and last 48 and 64 spread between. */
export function offsetsOf(length: number): number[] {
  if (length <= 320) return Array.from({ length: length + 1 }, (_, i) => i);
  const out = new Set<number>();
  for (let i = 0; i < 48; i++) {
    out.add(i);
    out.add(length - i);
  }
  for (let i = 0; i < 64; i++) out.add(Math.floor((length * i) / 64));
  return [...out].sort((a, b) => a - b);
}

/** The first bytes a TLS client sends (its ClientHello), captured from a real handshake on loopback. */
export async function clientHello(): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const first = new Promise<Buffer>((resolve) => {
    server.on('connection', (s) => {
      s.once('data', (c: Buffer) => {
        resolve(c);
        s.destroy();
      });
      s.on('error', () => undefined);
    });
  });
  const c = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  c.on('error', () => undefined);
  const hello = await first;
  c.destroy();
  server.close();
  return hello;
}
