import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buffer } from 'node:stream/consumers';
import { performance } from 'node:perf_hooks';
import {
  HEADER_PUSH_POLL,
  PUSH_POLL_ACCEPTED,
  PUSH_POLL_HEAD_DELAY_MS,
  parseRequest,
  readResponse,
  silentLogger,
} from '@pushprox/shared';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startProxy, type RunningProxy } from '../../src/listeners/server.js';
import { loadTokenFile } from '../../src/auth/client-auth.js';
import { closing, connect, exchange, sleep, TEST_CONFIG, until, withProxy } from '../helpers.js';

/**
 * Push-and-poll (wire.ts HEADER_PUSH_POLL): a push that asks for it is
 * answered as a poll for its FQDN once the pushed response is relayed.
 */

const poll = (fqdn: string) =>
  `POST /poll HTTP/1.1\r\nHost: proxy\r\nX-Pushprox-Poll-Capacity: 1\r\nContent-Length: ${Buffer.byteLength(fqdn)}\r\n\r\n${fqdn}`;
const scrape = (url: string) => `GET ${url} HTTP/1.1\r\nHost: ${new URL(url).host}\r\nX-Prometheus-Scrape-Timeout-Seconds: 5\r\n\r\n`;
const push = (id: string, body: string, extra = '') => {
  const inner = `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\nId: ${id}\r\n\r\n${body}`;
  return `POST /push HTTP/1.1\r\nHost: proxy\r\n${extra}Content-Length: ${Buffer.byteLength(inner)}\r\n\r\n${inner}`;
};
const ask = (fqdn: string) => `${HEADER_PUSH_POLL}: ${fqdn}\r\nX-Pushprox-Poll-Capacity: 1\r\n`;
/** pushprox_http_requests_total{code="200",path} of this proxy. */
async function requests(proxy: RunningProxy, path: string): Promise<number> {
  const metric = proxy.metrics.registry.getSingleMetric('pushprox_http_requests_total') as unknown as {
    get(): Promise<{ values: Array<{ value: number; labels: Record<string, string> }> }>;
  };
  return (await metric.get()).values.find((v) => v.labels['path'] === path && v.labels['code'] === '200')?.value ?? 0;
}
const idOf = (requestBytes: Buffer) => parseRequest(requestBytes).head.headers.get('Id')!;

/** A scrape handed to a waiting /poll; returns its Id and the pending Prometheus exchange. */
async function firstScrape(port: number, fqdn: string, url: string) {
  const p = exchange(port, poll(fqdn));
  const s = exchange(port, scrape(url));
  return { id: idOf((await p).body), scraped: s };
}

test('a push asking for push-poll gets the pending scrape in its reply, head and request in one framed message', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const first = await firstScrape(port, 'host-a', 'http://host-a:9100/metrics');
    // The next scrape is already waiting when the push arrives.
    const second = exchange(port, scrape('http://host-a:9100/metrics?n=2'));
    await until(() => proxy.coordinator.stats().pendingScrapes === 1);
    const reply = await exchange(port, push(first.id, 'up 1\n', ask('host-a')));
    assert.equal((await first.scraped).body.toString(), 'up 1\n', 'the pushed response still reaches Prometheus');
    assert.equal(reply.head.status, 200);
    assert.equal(reply.head.headers.get(HEADER_PUSH_POLL), PUSH_POLL_ACCEPTED);
    assert.match(reply.head.headers.get('X-Pushprox-Features') ?? '', /push-poll/);
    assert.equal(reply.head.headers.get('Transfer-Encoding'), undefined, 'not held back: sent with a length');
    assert.equal(Number(reply.head.headers.get('Content-Length')), reply.body.length);
    const next = parseRequest(reply.body);
    assert.equal(next.head.target, 'http://host-a:9100/metrics?n=2');
    // The scrape handed over on the push is answered like any other.
    const done = await exchange(port, push(next.head.headers.get('Id')!, 'up 2\n'));
    assert.equal(done.head.status, 200);
    assert.equal((await second).body.toString(), 'up 2\n');
  });
});

test('a push-poll with no scrape pending sends its head within the head delay, then the next scrape as the body', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const first = await firstScrape(port, 'host-a', 'http://host-a:9100/metrics');
    const socket = await connect(port);
    const sentAt = performance.now();
    // Connection: close, so that the reply's end is the connection's end too.
    socket.write(closing(Buffer.from(push(first.id, 'up 1\n', ask('host-a')))));
    const { head, body } = await readResponse(socket);
    const headMs = performance.now() - sentAt;
    assert.equal(head.status, 200);
    assert.equal(head.headers.get(HEADER_PUSH_POLL), PUSH_POLL_ACCEPTED);
    assert.equal(head.headers.get('Transfer-Encoding'), 'chunked');
    assert.ok(headMs >= PUSH_POLL_HEAD_DELAY_MS * 0.8, `head held back for the delay (${headMs.toFixed(0)} ms)`);
    assert.ok(headMs < PUSH_POLL_HEAD_DELAY_MS + 1500, `head sent without waiting for a scrape (${headMs.toFixed(0)} ms)`);
    assert.equal((await first.scraped).body.toString(), 'up 1\n');
    assert.equal(proxy.coordinator.stats().waitingPolls, 1, 'the push now waits as a poll');
    // Upstream's series keep their meaning: the push is counted once relayed, the rest later as a /poll.
    assert.equal(await requests(proxy, '/push'), 1);
    assert.equal(await requests(proxy, '/poll'), 1, 'only the first /poll has finished');
    const second = exchange(port, scrape('http://host-a:9100/metrics?n=2'));
    const next = parseRequest(await buffer(body));
    assert.equal(next.head.target, 'http://host-a:9100/metrics?n=2');
    await exchange(port, push(next.head.headers.get('Id')!, 'up 2\n'));
    assert.equal((await second).body.toString(), 'up 2\n');
    assert.equal(await requests(proxy, '/push'), 2);
    assert.equal(await requests(proxy, '/poll'), 2, 'the poll part counted once answered');
    socket.destroy();
  });
});

test('an idle push-poll ends with an empty body after --poll.idle-timeout', async () => {
  await withProxy({ pollIdleTimeoutMs: 300 }, async (proxy) => {
    const port = proxy.address.port;
    const first = await firstScrape(port, 'host-a', 'http://host-a:9100/metrics');
    const reply = await exchange(port, push(first.id, 'up 1\n', ask('host-a')), 5000);
    assert.equal(reply.head.status, 200);
    assert.equal(reply.head.headers.get(HEADER_PUSH_POLL), PUSH_POLL_ACCEPTED);
    assert.equal(reply.body.length, 0);
    assert.equal(proxy.coordinator.stats().waitingPolls, 0);
  });
});

test('a push-poll whose connection closes is forgotten, and the next scrape goes to a live poll', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const first = await firstScrape(port, 'host-a', 'http://host-a:9100/metrics');
    const socket = await connect(port);
    socket.write(push(first.id, 'up 1\n', ask('host-a')));
    await readResponse(socket);
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    socket.destroy();
    await until(() => proxy.coordinator.stats().waitingPolls === 0, 2000, 'the closed push-poll to be forgotten');
    const live = await firstScrape(port, 'host-a', 'http://host-a:9100/metrics?n=2');
    await exchange(port, push(live.id, 'up 2\n'));
    assert.equal((await live.scraped).body.toString(), 'up 2\n');
  });
});

test('a failed push that asked for push-poll is answered as a failed push and registers no poll', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const got = await exchange(port, push('00000000-0000-4000-8000-000000000000', 'up 1\n', ask('host-a')));
    assert.equal(got.head.status, 404);
    assert.equal(got.head.headers.get(HEADER_PUSH_POLL), undefined);
    await sleep(50);
    assert.equal(proxy.coordinator.stats().waitingPolls, 0);
  });
});

test('a bad push-poll FQDN or capacity loses nothing: the push is relayed and answered plainly', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    for (const extra of [`${HEADER_PUSH_POLL}: bad host\r\n`, `${HEADER_PUSH_POLL}: host-a\r\nX-Pushprox-Poll-Capacity: lots\r\n`]) {
      const first = await firstScrape(port, 'host-a', 'http://host-a:9100/metrics');
      const reply = await exchange(port, push(first.id, 'up 1\n', extra));
      assert.equal((await first.scraped).body.toString(), 'up 1\n');
      assert.equal(reply.head.status, 200);
      assert.equal(reply.head.headers.get(HEADER_PUSH_POLL), undefined, extra);
      assert.equal(reply.body.length, 0);
      assert.equal(proxy.coordinator.stats().waitingPolls, 0);
    }
  });
});

test('a push-poll for an FQDN the client token does not cover is refused as a poll but the push is relayed', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-pushpoll-'));
  writeFileSync(path.join(dir, 'tokens'), 'token-for-host-a-0123456789 host-a\n');
  const tokens = loadTokenFile(path.join(dir, 'tokens'));
  rmSync(dir, { recursive: true, force: true });
  const proxy = await startProxy({ ...TEST_CONFIG }, { logger: silentLogger, clientTokens: tokens });
  try {
    const port = proxy.address.port;
    const auth = 'Authorization: Bearer token-for-host-a-0123456789\r\n';
    const p = exchange(port, poll('host-a').replace('Host: proxy\r\n', `Host: proxy\r\n${auth}`));
    const s = exchange(port, scrape('http://host-a:9100/metrics'));
    const id = idOf((await p).body);
    const reply = await exchange(port, push(id, 'up 1\n', `${auth}${ask('host-b')}`));
    assert.equal((await s).body.toString(), 'up 1\n');
    assert.equal(reply.head.status, 200);
    assert.equal(reply.head.headers.get(HEADER_PUSH_POLL), undefined);
    assert.equal(proxy.coordinator.stats().waitingPolls, 0, 'no poll for host-b');
  } finally {
    await proxy.close();
  }
});

test('an upstream push (no push-poll header) is still answered 200 with an empty body at once', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const first = await firstScrape(port, 'host-a', 'http://host-a:9100/metrics');
    const got = await exchange(port, push(first.id, 'up 1\n'), 1000);
    assert.equal(got.head.status, 200);
    assert.equal(got.head.headers.get('Content-Length'), '0');
    assert.equal(got.head.headers.get(HEADER_PUSH_POLL), undefined);
    assert.equal(proxy.coordinator.stats().waitingPolls, 0);
  });
});
