/**
 * Graceful handover on shutdown (docs/protocol.md, Handover): our clients are told to
 * reconnect (204 + X-Pushprox-Reconnect on a waiting poll, RECONNECT on a channel), an
 * upstream client's poll gets the 503 it always got, and a scrape under way on a channel
 * is still answered before the channel ends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, FRAME, FrameReader, HEADER_RECONNECT, PushProxError, RECONNECT_SPREAD_MS, silentLogger } from '@pushprox/shared';
import { startProxy } from '../../src/listeners/server.js';
import { connect, exchange, readOne, TEST_CONFIG, until } from '../helpers.js';
import { openChannel, pushedResponse, pushFrames, scrape } from '../raw-peers.js';

const poll = (fqdn: string, capacity?: number) =>
  `POST /poll HTTP/1.1\r\nHost: proxy\r\n${capacity === undefined ? '' : `X-Pushprox-Poll-Capacity: ${capacity}\r\n`}Content-Length: ${fqdn.length}\r\n\r\n${fqdn}`;

test('shutdown: a waiting poll of our client gets 204 with X-Pushprox-Reconnect and Connection: close; an upstream poll gets 503 as upstream', { timeout: 20_000 }, async () => {
  const proxy = await startProxy(TEST_CONFIG, { logger: silentLogger });
  const ours = await connect(proxy.address.port);
  ours.write(poll('host-a', 4));
  const upstream = exchange(proxy.address.port, poll('host-b'), 10_000);
  await until(() => proxy.coordinator.stats().waitingPolls === 2, 5000, 'two waiting polls');
  const closed = proxy.close();
  const a = await readOne(ours, 5000);
  assert.equal(a.head.status, 204);
  assert.equal(a.head.headers.get(HEADER_RECONNECT), String(RECONNECT_SPREAD_MS));
  assert.equal(a.head.headers.get('connection'), 'close');
  const b = await upstream;
  assert.equal(b.head.status, 503);
  assert.equal(b.head.headers.get(HEADER_RECONNECT), undefined);
  await closed;
});

test('shutdown: a waiting channel gets RECONNECT and ends; a busy one gets RECONNECT, its scrape is still answered, then it ends', { timeout: 20_000 }, async () => {
  const proxy = await startProxy(TEST_CONFIG, { logger: silentLogger });
  const port = proxy.address.port;
  const idle = openChannel(port, 'idle-host', () => assert.fail('no scrape for idle-host'));
  let busySocket: import('node:net').Socket | undefined;
  let busyId: string | undefined;
  const busy = openChannel(port, 'busy-host', (id, socket) => {
    busyId = id;
    busySocket = socket;
  });
  await Promise.all([idle.upgraded, busy.upgraded]);
  // Frames after the upgrade (the 101 has been read), recorded alongside raw-peers' own reader.
  const seen = (ch: { socket: import('node:net').Socket }): number[] => {
    const types: number[] = [];
    const reader = new FrameReader({ onData: () => undefined, onFrame: (t) => types.push(t) }, [FRAME.REQUEST, FRAME.PING, FRAME.ERROR, FRAME.RECONNECT]);
    ch.socket.on('data', (c: Buffer) => {
      try {
        reader.push(c);
      } catch {
        types.push(-1);
      }
    });
    return types;
  };
  const idleFrames = seen(idle);
  const busyFrames = seen(busy);
  const answer = scrape(port, 'busy-host', 10);
  await until(() => busyId !== undefined, 5000, 'the scrape on the busy channel');
  const ended = (s: import('node:net').Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));
  const idleEnded = ended(idle.socket);
  const closed = proxy.close();
  await idleEnded;
  assert.deepEqual(idleFrames, [FRAME.RECONNECT]);
  assert.deepEqual(idle.errors, [], 'no ERROR: a handover is no failure');
  await until(() => busyFrames.includes(FRAME.RECONNECT), 5000, 'RECONNECT on the busy channel');
  assert.equal(busy.socket.destroyed, false, 'the busy channel stays open for its push');
  const busyEnded = ended(busy.socket);
  busySocket!.write(pushFrames(pushedResponse(busyId!, 'up 1\n')));
  const got = await answer;
  assert.equal(got.status, 200, got.text);
  assert.match(got.text, /up 1\n$/);
  await busyEnded;
  await closed;
});

test('shutdown: a poll on a connection kept alive after the handover ends at once', { timeout: 20_000 }, async () => {
  const proxy = await startProxy(TEST_CONFIG, { logger: silentLogger });
  proxy.coordinator.drain(new PushProxError(ERROR_CODES.SHUTTING_DOWN, 'proxy is shutting down'));
  const started = Date.now();
  const reply = await exchange(proxy.address.port, poll('host-c', 2), 5000);
  assert.equal(reply.head.status, 204);
  assert.equal(reply.head.headers.get(HEADER_RECONNECT), String(RECONNECT_SPREAD_MS));
  assert.ok(Date.now() - started < 2000);
  await proxy.close();
});

test('shutdown is bounded: a channel that took a scrape and never answers is cut after --shutdown.timeout', { timeout: 20_000 }, async () => {
  const proxy = await startProxy({ ...TEST_CONFIG, shutdownTimeoutMs: 500 }, { logger: silentLogger });
  const port = proxy.address.port;
  let took = false;
  const silent = openChannel(port, 'silent-host', () => (took = true));
  await silent.upgraded;
  const answer = scrape(port, 'silent-host', 30);
  await until(() => took, 5000, 'the scrape on the silent channel');
  const started = Date.now();
  await proxy.close();
  const ms = Date.now() - started;
  assert.ok(ms >= 400 && ms < 3_000, `close took ${ms} ms with --shutdown.timeout 500ms`);
  const got = await answer;
  assert.notEqual(got.status, 200);
  assert.ok(silent.socket.destroyed || (await new Promise((r) => silent.socket.once('close', () => r(true)))));
});
