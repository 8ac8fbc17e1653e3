/**
 * A raw channel peer for tests against a running proxy: it opens a channel
 * byte by byte and keeps every frame the proxy sends; and a raw scrape as
 * Prometheus sends it. Shared by the channel tests of this folder.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { FRAME, FrameReader, parseRequest, type FrameType } from '@pushprox/shared';
import { closing, connect, readOne, until, type RawExchange } from '../helpers.js';

export interface RawChannel {
  readonly socket: net.Socket;
  readonly frames: Array<{ type: FrameType; payload: Buffer }>;
  readonly closed: Promise<void>;
  isClosed(): boolean;
}

export async function openChannel(port: number, fqdn: string): Promise<RawChannel> {
  const socket = await connect(port);
  socket.on('error', () => {});
  const frames: RawChannel['frames'] = [];
  const reader = new FrameReader(
    { onData: () => assert.fail('the proxy sent DATA'), onFrame: (type, p) => frames.push({ type, payload: Buffer.from(p) }) },
    [FRAME.REQUEST, FRAME.PING, FRAME.PONG, FRAME.ERROR, FRAME.RECONNECT],
  );
  let isClosed = false;
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    let pending = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      pending = Buffer.concat([pending, chunk]);
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const head = pending.subarray(0, end).toString('latin1');
      if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(`expected 101, got ${head}`));
      socket.on('data', (c: Buffer) => reader.push(c));
      if (pending.length > end + 4) reader.push(pending.subarray(end + 4));
      resolve();
    };
    socket.on('data', onData);
    socket.write(
      `GET /poll HTTP/1.1\r\nHost: proxy\r\nConnection: Upgrade\r\nUpgrade: pushprox-channel/1\r\n` +
        `X-Pushprox-Channel: ${fqdn}\r\nX-Pushprox-Poll-Capacity: 1\r\n\r\n`,
    );
  });
  return { socket, frames, closed, isClosed: () => isClosed };
}

/** Sends a scrape as Prometheus would; resolves with the Id the channel got and the pending answer. */
export async function scrapeOn(port: number, ch: RawChannel, timeoutSeconds = '30'): Promise<{ id: string; answer: Promise<RawExchange>; sentAt: number }> {
  const before = ch.frames.filter((f) => f.type === FRAME.REQUEST).length;
  const prom = await connect(port);
  prom.on('error', () => {});
  const sentAt = performance.now();
  prom.write(
    closing(Buffer.from(`GET http://host-a:9100/metrics HTTP/1.1\r\nHost: host-a:9100\r\nX-Prometheus-Scrape-Timeout-Seconds: ${timeoutSeconds}\r\n\r\n`)),
  );
  const answer = readOne(prom, 20_000);
  answer.catch(() => {});
  await until(() => ch.frames.filter((f) => f.type === FRAME.REQUEST).length > before, 5000, 'the REQUEST');
  const req = ch.frames.filter((f) => f.type === FRAME.REQUEST).at(-1)!;
  return { id: parseRequest(req.payload).head.headers.get('Id')!, answer, sentAt };
}
