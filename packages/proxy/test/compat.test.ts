import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { parseRequest, parseResponse } from '@pushprox/shared';
import { fixture } from '@pushprox/shared/testing';
import { exchange, until, withId, withProxy } from './helpers.js';

/**
 * Replays the upstream captures against our proxy and checks our replies
 * against what an upstream peer got from the Go proxy.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('upstream poll (02) and scrape (01a) get a poll reply shaped like 03a', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const poll = exchange(port, fixture('02'));
    await until(() => proxy.coordinator.stats().waitingPolls === 1, 2000, 'the poll to wait');
    const scrape = exchange(port, fixture('01a'));
    const got = await poll;
    const want = parseResponse(fixture('03a'));
    assert.equal(got.head.status, 200);
    assert.equal(got.head.headers.get('content-type'), want.head.headers.get('content-type'));
    assert.equal(Number(got.head.headers.get('content-length')), got.body.length);

    const inner = parseRequest(got.body);
    const wantInner = parseRequest(want.body);
    assert.equal(inner.head.method, wantInner.head.method);
    assert.equal(inner.head.target, wantInner.head.target);
    assert.deepEqual(
      [...inner.head.headers].map(([n]) => n),
      [...wantInner.head.headers].map(([n]) => n),
      'header order as Go WriteProxy writes it',
    );
    for (const [name, value] of wantInner.head.headers) {
      if (name === 'Id') assert.match(inner.head.headers.get(name)!, UUID);
      // The proxy answers 5% (at most 0.5 s) before Prometheus gives up, and tells the client so.
      else if (name === 'X-Prometheus-Scrape-Timeout-Seconds') assert.equal(inner.head.headers.get(name), '9.5');
      else assert.equal(inner.head.headers.get(name), value, name);
    }
    // Byte-identical but for the random Id and the timeout.
    const id = inner.head.headers.get('Id')!;
    assert.deepEqual(
      got.body.toString('latin1'),
      withId(want.body, id).toString('latin1').replace('Timeout-Seconds: 10\r\n', 'Timeout-Seconds: 9.5\r\n'),
    );

    const pushed = await exchange(port, withId(fixture('05a'), id));
    const want06 = parseResponse(fixture('06'));
    assert.equal(pushed.head.status, want06.head.status);
    assert.equal(pushed.head.headers.get('content-length'), '0');
    assert.equal(pushed.body.length, 0);

    const relayed = await scrape;
    const want07 = parseResponse(fixture('07a'));
    assert.equal(relayed.head.status, 200);
    for (const name of ['Content-Type', 'Content-Length']) {
      assert.equal(relayed.head.headers.get(name), want07.head.headers.get(name), name);
    }
    assert.deepEqual(relayed.body, want07.body);
    // Fixed upstream leaks: internal headers never reach Prometheus.
    for (const name of ['Id', 'X-Prometheus-Scrape-Timeout', 'X-Prometheus-Scrape-Timeout-Seconds', 'Keep-Alive: timeout=5']) {
      assert.equal(relayed.head.headers.get(name), undefined, name);
    }
  });
});

test('a chunked gzip push (05b) reaches Prometheus as the same gzip bytes (07b)', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const poll = exchange(port, fixture('02'));
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    const scrape = exchange(port, fixture('01b'));
    const id = parseRequest((await poll).body).head.headers.get('Id')!;
    const pushed = await exchange(port, withId(fixture('05b'), id));
    assert.equal(pushed.head.status, 200);
    const relayed = await scrape;
    const want = parseResponse(fixture('07b'));
    assert.equal(relayed.head.status, 200);
    assert.equal(relayed.head.headers.get('content-encoding'), 'gzip');
    assert.equal(relayed.head.headers.get('content-type'), want.head.headers.get('content-type'));
    assert.deepEqual(relayed.body, want.body, 'gzip bytes pass through unchanged');
    assert.match(gunzipSync(relayed.body).toString(), /node_exporter_build_info/);
  });
});

test('an upstream error push (05c, HTTP/0.0, close-delimited) reaches Prometheus as 11b', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const poll = exchange(port, fixture('02'));
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    const scrape = exchange(port, fixture('11a'));
    const inner = parseRequest((await poll).body);
    // Our proxy always forwards a timeout, so upstream clients never fail as in 05c.
    assert.equal(inner.head.headers.get('X-Prometheus-Scrape-Timeout-Seconds'), '14.5');
    const id = inner.head.headers.get('Id')!;
    await exchange(port, withId(fixture('05c'), id));
    const relayed = await scrape;
    const want = parseResponse(fixture('11b'));
    assert.equal(relayed.head.status, want.head.status);
    assert.deepEqual(relayed.body, want.body);
  });
});

test('/clients answers like 08b, with labels {} and sorted', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const polls = [exchange(port, fixture('02')), exchange(port, fixture('09a'))];
    await until(() => proxy.coordinator.stats().waitingPolls === 2);
    const got = await exchange(port, fixture('08a'));
    const want = parseResponse(fixture('08b'));
    assert.equal(got.head.status, 200);
    assert.equal(got.head.headers.get('content-type'), want.head.headers.get('content-type'));
    assert.equal(got.body.toString(), '[{"targets":["127.0.0.1"],"labels":{}},{"targets":["expiry-test.invalid"],"labels":{}}]\n');
    await proxy.close();
    await Promise.allSettled(polls);
  });
});

test('a second upstream poll for one FQDN expires the first with 09b', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const first = exchange(port, fixture('09a'));
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    const second = exchange(port, fixture('09a'));
    const got = await first;
    const want = parseResponse(fixture('09b'));
    assert.equal(got.head.status, 408);
    assert.equal(got.head.reason, want.head.reason);
    assert.deepEqual(got.body, want.body);
    assert.equal(got.head.headers.get('content-type'), want.head.headers.get('content-type'));
    await proxy.close();
    await second.catch(() => undefined);
  });
});

test('a push for an unknown Id (13a) is answered at once with 404, not after 15 s', async () => {
  await withProxy({}, async (proxy) => {
    const start = Date.now();
    const got = await exchange(proxy.address.port, fixture('13a'));
    assert.equal(got.head.status, 404);
    assert.match(got.body.toString(), /^Error pushing: unknown scrape id "00000000-/);
    assert.ok(Date.now() - start < 1000, `took ${Date.now() - start} ms`);
  });
});

test('a malformed push (14a) gets a 400 that says what was wrong', async () => {
  await withProxy({}, async (proxy) => {
    const got = await exchange(proxy.address.port, fixture('14a'));
    assert.equal(got.head.status, 400);
    assert.match(got.body.toString(), /^Error pushing: .*status line.*"this is not an http/);
  });
});

test('an unknown path gets Go ServeMux 404 (15)', async () => {
  await withProxy({}, async (proxy) => {
    const got = await exchange(proxy.address.port, 'GET /nonexistent HTTP/1.1\r\nHost: x\r\n\r\n');
    const want = parseResponse(fixture('15'));
    assert.equal(got.head.status, 404);
    assert.deepEqual(got.body, want.body);
    assert.equal(got.head.headers.get('content-type'), want.head.headers.get('content-type'));
  });
});

test('/metrics serves the upstream metric names (16a)', async () => {
  await withProxy({}, async (proxy) => {
    const got = await exchange(proxy.address.port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
    const body = got.body.toString();
    for (const name of [
      'pushprox_http_requests_total{code="200",path="/poll"}',
      'pushprox_http_requests_total{code="408",path="/poll"}',
      'pushprox_http_requests_total{code="500",path="/push"}',
      'pushprox_http_duration_seconds_bucket{le="0.005",path="/push"} 0',
      'pushprox_proxy_clients 0',
      '# TYPE pushproxy_proxied_requests_total counter',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ]) {
      assert.ok(body.includes(name), `missing ${name}`);
    }
  });
});
