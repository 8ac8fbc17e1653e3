import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, parseRequest, silentLogger } from '@pushprox/shared';
import { startProxy, type RunningProxy } from '../../src/listeners/server.js';
import { WHOLE_PUSH_BYTES } from '../../src/exchanges/push-relay.js';
import { TEST_CONFIG, connect, exchange, sleep, until } from '../helpers.js';
import { drain, idle, judge, latin1, parkScrape, pollRequest, pushRequest, scrapeRequest } from './hostile-helpers.js';

/**
 * Slow senders (slowloris) against the read timeouts: a request head must
 * arrive within readHeaderTimeoutMs, a request body may not stall for
 * readIdleTimeoutMs, and neither applies to a complete request waiting for
 * its answer (a poll).
 */

const HEADER_MS = 300;
const IDLE_MS = 300;
/**
 * Upper bound past a timeout. The side that matters is "not before the timeout" (asserted
 * tightly: `started` is taken before the connect, so load only makes the measured time
 * longer); the upper bound only has to tell a guard that fires from one that never does.
 * 5 s is an order of magnitude over the timeouts and what a loaded 2-core machine delays a
 * timer by, so it does not flake.
 */
const SLACK_MS = 5_000;
/** Node's timers may fire a millisecond early (rounding): the lower bounds allow that. */
const EARLY_MS = 10;

async function withSlowGuards(fn: (proxy: RunningProxy) => Promise<void>): Promise<void> {
  const proxy = await startProxy({ ...TEST_CONFIG, readHeaderTimeoutMs: HEADER_MS, readIdleTimeoutMs: IDLE_MS }, { logger: silentLogger });
  try {
    await fn(proxy);
  } finally {
    await proxy.close();
  }
}

/** A full poll → scrape → push round trip on fresh connections. */
async function roundTrip(proxy: RunningProxy, fqdn: string): Promise<void> {
  const parked = await parkScrape(proxy, fqdn, '5');
  const pushed = await exchange(proxy.address.port, pushRequest(`HTTP/1.1 200 OK\r\nContent-Length: 3\r\nId: ${parked.id}\r\n\r\nok\n`));
  assert.equal(pushed.head.status, 200);
  const got = judge((await parked.answer).bytes);
  assert.ok(got.complete);
  assert.equal(got.body.toString(), 'ok\n');
}

test('a client that sends half a request head and stops is closed with 408 after readHeaderTimeoutMs; others are served meanwhile', async () => {
  await withSlowGuards(async (proxy) => {
    const halves = ['POST /poll HTTP/1.1\r\nHost: p\r\nContent-Le', 'GET http://host-a:9100/met', 'POST /push HTTP/1.1\r\n'];
    const started = Date.now();
    const slow = await Promise.all(
      halves.map(async (half) => {
        const s = await connect(proxy.address.port);
        s.write(half);
        return drain(s, HEADER_MS + SLACK_MS + 2000);
      }),
    );
    // Served while the slow heads hang: the timeouts are per connection.
    await roundTrip(proxy, 'host-a');
    const ended = await Promise.all(slow);
    const elapsed = Date.now() - started;
    for (const [i, { bytes, closed }] of ended.entries()) {
      assert.ok(closed, `${JSON.stringify(halves[i])}: closed`);
      // SECURITY.md threat 7: a 408 and a close, never a silent close.
      const got = judge(bytes);
      assert.ok(got.complete, `${JSON.stringify(halves[i])}: expected a complete 408 before the close, got ${JSON.stringify(bytes.toString('latin1'))}`);
      assert.equal(got.head.status, 408);
    }
    assert.ok(elapsed >= HEADER_MS - EARLY_MS, `closed after ${elapsed} ms, before readHeaderTimeoutMs`);
    assert.ok(elapsed < HEADER_MS + SLACK_MS, `closed after ${elapsed} ms`);
  });
});

test('a push that stalls halfway through its body is aborted after readIdleTimeoutMs; the scrape ends in an error and nothing leaks', async () => {
  // Small pushes are read whole before any of it is relayed; larger ones stream (WHOLE_PUSH_BYTES).
  for (const [shape, size] of [['whole', 1000], ['streamed', 2 * WHOLE_PUSH_BYTES]] as const) {
    await withSlowGuards(async (proxy) => {
      const parked = await parkScrape(proxy, 'host-a', shape === 'whole' ? '2' : '10');
      const inner = latin1(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\nId: ${parked.id}\r\n\r\n${'x'.repeat(size / 2)}`);
      const s = await connect(proxy.address.port);
      const started = Date.now();
      // The outer /push declares the whole inner response but sends only half its body.
      s.write(Buffer.concat([latin1(`POST /push HTTP/1.1\r\nHost: p\r\nContent-Length: ${inner.length + size / 2}\r\n\r\n`), inner]));
      const pushSide = await drain(s, IDLE_MS + SLACK_MS + 2000);
      const elapsed = Date.now() - started;
      assert.ok(pushSide.closed, `${shape}: the stalled push connection was closed`);
      assert.ok(elapsed >= IDLE_MS - EARLY_MS && elapsed < IDLE_MS + SLACK_MS, `${shape}: aborted after ${elapsed} ms`);
      const scraped = judge((await parked.answer).bytes);
      if (shape === 'whole') {
        // Nothing was relayed: the scrape fails at its deadline with a complete error response.
        assert.ok(scraped.complete, shape);
        assert.equal(scraped.head.status, 500);
        assert.match(scraped.body.toString(), /context deadline exceeded/);
      } else {
        // The relay had begun: Prometheus sees its connection cut before the response completed.
        assert.deepEqual(scraped.complete ? `complete ${scraped.head.status}` : scraped.code, ERROR_CODES.WIRE_TRUNCATED);
      }
      await idle(proxy);
      await roundTrip(proxy, 'host-a');
    });
  }
});

test('regression: a waiting poll is not cut by readIdleTimeoutMs or readHeaderTimeoutMs (they apply only while a request arrives)', async () => {
  await withSlowGuards(async (proxy) => {
    const port = proxy.address.port;
    const poll = exchange(port, pollRequest('host-a'), 10_000);
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    await sleep(4 * Math.max(IDLE_MS, HEADER_MS));
    assert.equal(proxy.coordinator.stats().waitingPolls, 1, 'the poll still waits');
    const scrape = exchange(port, scrapeRequest('http://host-a:9100/metrics', '5'));
    const reply = await poll;
    assert.equal(reply.head.status, 200);
    const id = parseRequest(reply.body).head.headers.get('Id')!;
    await exchange(port, pushRequest(`HTTP/1.1 200 OK\r\nContent-Length: 3\r\nId: ${id}\r\n\r\nok\n`));
    assert.equal((await scrape).body.toString(), 'ok\n');
    await idle(proxy);
  });
});

test('a poll whose body stalls is closed after readIdleTimeoutMs and registers nothing', async () => {
  await withSlowGuards(async (proxy) => {
    const s = await connect(proxy.address.port);
    const started = Date.now();
    s.write('POST /poll HTTP/1.1\r\nHost: p\r\nContent-Length: 20\r\n\r\nhost-');
    const { closed } = await drain(s, IDLE_MS + SLACK_MS + 2000);
    const elapsed = Date.now() - started;
    assert.ok(closed);
    assert.ok(elapsed >= IDLE_MS - EARLY_MS && elapsed < IDLE_MS + SLACK_MS, `closed after ${elapsed} ms`);
    assert.deepEqual(proxy.coordinator.registry.list(), []);
    await idle(proxy);
  });
});
