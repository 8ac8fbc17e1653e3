import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex, type Readable } from 'node:stream';
import { encodeFrame, FRAME, silentLogger } from '@pushprox/shared';
import { ProxyChannel } from '../../src/channel/channel.js';
import { systemClock } from '../../src/routing/clock.js';
import { Coordinator } from '../../src/routing/coordinator.js';
import type { PushedResponse, Responders } from '../../src/exchanges/scrape-handler.js';
import { until } from '../helpers.js';

/**
 * The channel's end of a connection as a plain Duplex, so the test decides
 * how the bytes are cut into reads: what arrives while the channel has paused
 * it waits, as in a socket's buffer, and comes as separate chunks in order.
 */
function wire(): { socket: Duplex; sent: Buffer[]; arrive: (...chunks: Buffer[]) => void } {
  const sent: Buffer[] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      sent.push(chunk);
      cb();
    },
  });
  return { socket, sent, arrive: (...chunks) => chunks.forEach((c) => socket.push(c)) };
}

/** Reads a body as a consumer that pulls (no 'data' listener): it buffers up to its highWaterMark. */
function pull(body: Readable): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    body.on('readable', () => {
      for (let c = body.read() as Buffer | null; c !== null; c = body.read() as Buffer | null) n += c.length;
    });
    body.once('end', () => resolve(n));
    body.once('error', reject);
  });
}

const dataFrame = (payload: Buffer): Buffer => encodeFrame(FRAME.DATA, payload);

/** One ProxyChannel for host-a on a wire(), with a real coordinator. */
function harness() {
  const coordinator = new Coordinator({ clock: systemClock, registrationTimeoutMs: 60_000, pollIdleTimeoutMs: 0, maxPollsPerFqdn: 4 });
  const responders: Responders = new Map();
  const w = wire();
  let closedAt: number | undefined;
  const channel = new ProxyChannel(
    w.socket,
    { fqdn: 'host-a', identity: { subject: 'test', allows: () => true }, capacity: 1, onClosed: () => (closedAt = Date.now()) },
    { coordinator, responders, logger: silentLogger, maxBodyBytes: 1 << 30, observe: () => {} },
  );
  channel.wait();
  const failures: Error[] = [];
  /** The push's head and body; the relay counts as done when `relayed` settles, as a real responder's. */
  const scrape = (id: string, relayed: Promise<unknown> = Promise.resolve()): Promise<PushedResponse> =>
    new Promise((resolve) => {
      responders.set(id, async (pushed) => {
        resolve(pushed);
        await relayed;
      });
      coordinator.scrape({ id, fqdn: 'host-a', request: Buffer.from(`GET http://host-a/ HTTP/1.1\r\nId: ${id}\r\n\r\n`) }, 10_000, {
        fail: (err) => failures.push(err),
      });
    });
  return { ...w, channel, scrape, failures, closedAt: () => closedAt };
}

/** A pushed response's head and the first 70 KiB of its body: past WHOLE_PUSH_BYTES, so it streams. */
const streamingStart = (id: string, size: number): Buffer =>
  dataFrame(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\nId: ${id}\r\n\r\n`), Buffer.alloc(70 * 1024, 'a')]));

test('a channel paused by its last DATA, with END in the same read, reads again: the next scrape on it is answered', async () => {
  const { socket, sent, arrive, channel, scrape, failures } = harness();
  const piece = Buffer.alloc(80 * 1024, 'b');
  const size = 70 * 1024 + 2 * piece.length;
  let pulled!: (n: Promise<number>) => void;
  const relayed = new Promise<number>((r) => (pulled = r));
  const first = scrape('s1', relayed);
  await until(() => sent.length === 1, 2000, 'the first REQUEST');
  // The push streams; its body is not read yet.
  arrive(streamingStart('s1', size));
  const { body } = await first;
  // The first read fills the relay and pauses the channel; once the body is pulled it comes
  // in, pausing the relay again, so the second's DATA pauses the channel, and its END, in
  // the same read, ends the push.
  arrive(dataFrame(piece), Buffer.concat([dataFrame(piece), encodeFrame(FRAME.END)]));
  pulled(pull(body as Readable));
  assert.equal(await relayed, size);

  const second = scrape('s2');
  await until(() => sent.length === 2, 2000, 'the second REQUEST');
  arrive(dataFrame(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nId: s2\r\n\r\nup\n')), encodeFrame(FRAME.END));
  let timer: NodeJS.Timeout | undefined;
  const answered = await Promise.race([second, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 2000)))]);
  clearTimeout(timer);
  assert.ok(answered, `the second scrape's push was never read (channel paused: ${socket.isPaused()})`);
  assert.equal(answered.head.status, 200);
  assert.equal(Buffer.isBuffer(answered.body) ? answered.body.toString() : '', 'up\n');
  assert.deepEqual(failures, []);
  channel.destroy();
});

test('a channel closed while a full relay paused it sees its client leave at once, not at the 5 s cut', async () => {
  const { socket, sent, arrive, scrape, closedAt, channel } = harness();
  let goneAway!: (err: Error) => void;
  const relayed = new Promise<never>((_, reject) => (goneAway = reject));
  relayed.catch(() => {});
  const first = scrape('s1', relayed);
  await until(() => sent.length === 1, 2000, 'the REQUEST');
  arrive(streamingStart('s1', 1024 * 1024));
  await first;
  // Nobody reads the body: this DATA fills the relay and pauses the channel.
  arrive(dataFrame(Buffer.alloc(80 * 1024, 'b')));
  await until(() => socket.isPaused(), 2000, 'the channel to pause');
  // The proxy closes the channel (ERROR, then FIN), as its sweep does with a client silent too long.
  channel.close('no response to the scrape request');
  goneAway(new Error('the channel closed'));
  await until(() => sent.some((f) => f[0] === FRAME.ERROR), 2000, 'the ERROR frame');
  const leftAt = Date.now();
  arrive(dataFrame(Buffer.alloc(80 * 1024, 'c')));
  socket.push(null);
  await until(() => closedAt() !== undefined, 4000, 'the channel to close once its client left');
  assert.ok(closedAt()! - leftAt < 1000, `closed ${closedAt()! - leftAt} ms after the client left`);
});
