import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequest } from '@pushprox/shared';
import { connect, exchange, sleep, until, withProxy } from './helpers.js';

/** Upstream PushProx failure modes that ours fixes, one test each. */

const poll = (fqdn: string, extra = '') =>
  `POST /poll HTTP/1.1\r\nHost: proxy\r\n${extra}Content-Length: ${Buffer.byteLength(fqdn)}\r\n\r\n${fqdn}`;
const scrape = (url: string, timeout?: string) =>
  `GET ${url} HTTP/1.1\r\nHost: ${new URL(url).host}\r\nUser-Agent: test\r\n` +
  (timeout ? `X-Prometheus-Scrape-Timeout-Seconds: ${timeout}\r\n` : '') +
  `\r\n`;
const push = (id: string, body: string, status = '200 OK') => {
  const inner = `HTTP/1.1 ${status}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nId: ${id}\r\n\r\n${body}`;
  return `POST /push HTTP/1.1\r\nHost: proxy\r\nContent-Length: ${Buffer.byteLength(inner)}\r\n\r\n${inner}`;
};

test('1. a poll whose connection closed is forgotten at once and never gets a scrape', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const dead = await connect(port);
    dead.write(poll('host-a', 'X-Pushprox-Poll-Capacity: 1\r\n'));
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    dead.destroy();
    await until(() => proxy.coordinator.stats().waitingPolls === 0, 1000, 'the dead poll to be forgotten');
    const live = exchange(port, poll('host-a', 'X-Pushprox-Poll-Capacity: 1\r\n'));
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    const s = exchange(port, scrape('http://host-a:9100/metrics', '5'));
    const got = await live;
    assert.equal(got.head.status, 200);
    const id = parseRequest(got.body).head.headers.get('Id')!;
    await exchange(port, push(id, 'up 1\n'));
    assert.equal((await s).body.toString(), 'up 1\n');
  });
});

test('2. a client stays registered while its poll is waiting, beyond --registration.timeout', async () => {
  await withProxy({ registrationTimeoutMs: 200, pollIdleTimeoutMs: 0 }, async (proxy) => {
    const port = proxy.address.port;
    const p = exchange(port, poll('host-a'));
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    await sleep(400);
    const clients = await exchange(port, 'GET /clients HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.deepEqual(JSON.parse(clients.body.toString()), [{ targets: ['host-a'], labels: {} }]);
    await proxy.close();
    await p.catch(() => undefined);
  });
});

test('3. a push for an expired Id is answered at once with 410', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const p = exchange(port, poll('host-a'));
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    const s = exchange(port, scrape('http://host-a:9100/metrics', '0.2'));
    const id = parseRequest((await p).body).head.headers.get('Id')!;
    const scraped = await s;
    assert.equal(scraped.head.status, 500);
    assert.match(scraped.body.toString(), /context deadline exceeded/);
    const start = Date.now();
    const late = await exchange(port, push(id, 'late\n'));
    assert.equal(late.head.status, 410);
    assert.match(late.body.toString(), /expired/);
    assert.ok(Date.now() - start < 1000);
  });
});

test('regression: a second push for an Id that was already answered gets 410 at once (404 is for Ids never seen)', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const p = exchange(port, poll('host-a'));
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    const s = exchange(port, scrape('http://host-a:9100/metrics', '5'));
    const id = parseRequest((await p).body).head.headers.get('Id')!;
    assert.equal((await exchange(port, push(id, 'up 1\n'))).head.status, 200);
    assert.equal((await s).body.toString(), 'up 1\n');
    const again = await exchange(port, push(id, 'up 2\n'));
    assert.equal(again.head.status, 410);
    assert.match(again.body.toString(), /already answered/);
    const never = await exchange(port, push('00000000-0000-4000-8000-000000000000', 'x'));
    assert.equal(never.head.status, 404);
  });
});

test('4. a scrape for an FQDN that never polled fails fast; a known client gets the whole deadline', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    let start = Date.now();
    const unknown = await exchange(port, scrape('http://ghost.example:9100/metrics', '10'));
    assert.equal(unknown.head.status, 500);
    // Prometheus shows only the status line: the reason phrase says why.
    assert.match(unknown.head.reason, /^no client registered for "ghost\.example"/);
    assert.match(unknown.body.toString(), /^Error scraping "http:\/\/ghost\.example:9100\/metrics": no client registered for "ghost\.example" \(never polled/);
    assert.ok(Date.now() - start < 1000, 'failed fast');

    // Known (polled, then went away briefly): the scrape waits for the next poll.
    const c = await connect(port);
    c.write(poll('host-a', 'X-Pushprox-Poll-Capacity: 1\r\n'));
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    c.destroy();
    await until(() => proxy.coordinator.stats().waitingPolls === 0);
    start = Date.now();
    const s = exchange(port, scrape('http://host-a:9100/metrics', '2'));
    await sleep(1000);
    const late = exchange(port, poll('host-a', 'X-Pushprox-Poll-Capacity: 1\r\n'));
    const id = parseRequest((await late).body).head.headers.get('Id')!;
    await exchange(port, push(id, 'ok\n'));
    const got = await s;
    assert.equal(got.head.status, 200);
    assert.ok(Date.now() - start >= 1000);
  });
});

test('5. parallel scrapes of one FQDN are handed to parallel polls of a capacity-declaring client', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const polls = Array.from({ length: 4 }, () => exchange(port, poll('host-a', 'X-Pushprox-Poll-Capacity: 4\r\n')));
    await until(() => proxy.coordinator.stats().waitingPolls === 4);
    const scrapes = Array.from({ length: 4 }, (_, i) => exchange(port, scrape(`http://host-a:9100/metrics?i=${i}`, '5')));
    const ids = (await Promise.all(polls)).map((p) => parseRequest(p.body).head.headers.get('Id')!);
    assert.equal(new Set(ids).size, 4);
    await Promise.all(ids.map((id) => exchange(port, push(id, `r ${id}\n`))));
    const bodies = (await Promise.all(scrapes)).map((s) => s.body.toString()).sort();
    assert.deepEqual(bodies, ids.map((id) => `r ${id}\n`).sort());
  });
});

test('6. an idle poll of our client gets a no-work 204 after --poll.idle-timeout; an upstream poll never does', async () => {
  await withProxy({ pollIdleTimeoutMs: 200 }, async (proxy) => {
    const port = proxy.address.port;
    const start = Date.now();
    const ours = await exchange(port, poll('ours', 'X-Pushprox-Poll-Capacity: 2\r\n'));
    assert.equal(ours.head.status, 204);
    assert.match(ours.head.headers.get('X-Pushprox-Features') ?? '', /idle-reply/);
    assert.ok(Date.now() - start >= 190);
    const theirs = exchange(port, poll('theirs'));
    await sleep(600);
    assert.equal(proxy.coordinator.stats().waitingPolls, 1, 'the upstream poll is still held');
    await proxy.close();
    const ended = await theirs.catch((e: Error) => e);
    // Drained at shutdown with a reply an upstream client treats like upstream's own 408.
    if (!(ended instanceof Error)) assert.notEqual(ended.head.status, 204);
  });
});

test('a hello poll is answered at once with the features header', async () => {
  await withProxy({}, async (proxy) => {
    const got = await exchange(proxy.address.port, poll('host-a', 'X-Pushprox-Poll-Capacity: 8\r\nX-Pushprox-Hello: 1\r\n'));
    assert.equal(got.head.status, 204);
    assert.equal(got.head.headers.get('X-Pushprox-Features'), 'multi-poll, idle-reply, push-poll, channel');
  });
});

test('7. a push larger than --push.max-body-size is refused with 413', async () => {
  await withProxy({ pushMaxBodyBytes: 1024 }, async (proxy) => {
    const got = await exchange(proxy.address.port, push('x', 'a'.repeat(2000)));
    assert.equal(got.head.status, 413);
    assert.match(got.body.toString(), /--push\.max-body-size/);
  });
});

test('the client is told the default timeout when Prometheus sends none, clamped to the maximum, less the proxy margin', async () => {
  await withProxy({ scrapeDefaultTimeoutMs: 7000, scrapeMaxTimeoutMs: 9000 }, async (proxy) => {
    const port = proxy.address.port;
    // Margin: 5% of the timeout, at least 100 ms (a tenth under 1 s), at most 500 ms.
    const cases = [[undefined, '6.65'], ['60', '8.55'], ['2.5', '2.375'], ['junk', '6.65'], ['1', '0.9'], ['0.1', '0.09'], ['30', '8.55']] as const;
    for (const [sent, forwarded] of cases) {
      const p = exchange(port, poll('host-a'));
      await until(() => proxy.coordinator.stats().waitingPolls === 1);
      const s = exchange(port, scrape('http://host-a:9100/metrics', sent));
      const inner = parseRequest((await p).body).head;
      assert.equal(inner.headers.get('X-Prometheus-Scrape-Timeout-Seconds'), forwarded, String(sent));
      await exchange(port, push(inner.headers.get('Id')!, 'x'));
      await s;
    }
  });
});

test('CONNECT (scheme: https) gets an error that explains params _scheme', async () => {
  await withProxy({}, async (proxy) => {
    const got = await exchange(proxy.address.port, 'CONNECT host-a:9100 HTTP/1.1\r\nHost: host-a:9100\r\n\r\n');
    assert.equal(got.head.status, 501);
    assert.match(got.head.reason, /_scheme/);
    assert.match(got.body.toString(), /_scheme: \[https\]/);
  });
});

test('bad polls get 400: empty, invalid host name, injection attempt, oversized, bad capacity', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const cases: Array<[string, RegExp]> = [
      [poll(''), /empty/],
      [poll('   \n'), /empty/],
      [poll('bad host'), /not a valid host name label/],
      [poll('evil\r\nId: 1'), /not a valid/],
      [poll('a'.repeat(300)), /more than 253/],
      [poll('x'.repeat(2000)), /larger than 1024 bytes/],
      [poll('host-a', 'X-Pushprox-Poll-Capacity: lots\r\n'), /whole number/],
    ];
    for (const [req, why] of cases) {
      const got = await exchange(port, req);
      assert.equal(got.head.status, 400, why.source);
      assert.match(got.body.toString(), why);
    }
    assert.equal(proxy.coordinator.registry.list().length, 0);
  });
});

test('a push that lacks an Id is refused with 400', async () => {
  await withProxy({}, async (proxy) => {
    const inner = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    const got = await exchange(
      proxy.address.port,
      `POST /push HTTP/1.1\r\nHost: p\r\nContent-Length: ${inner.length}\r\n\r\n${inner}`,
    );
    assert.equal(got.head.status, 400);
    assert.match(got.body.toString(), /Id header/);
  });
});

test('a pushed response with conflicting framing is refused and Prometheus gets a 500, not a smuggled body', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const p = exchange(port, poll('host-a'));
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    const s = exchange(port, scrape('http://host-a:9100/metrics', '1'));
    const id = parseRequest((await p).body).head.headers.get('Id')!;
    const inner = `HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\nId: ${id}\r\n\r\n0\r\n\r\n`;
    const pushed = await exchange(port, `POST /push HTTP/1.1\r\nHost: p\r\nContent-Length: ${inner.length}\r\n\r\n${inner}`);
    assert.equal(pushed.head.status, 400);
    const got = await s;
    assert.equal(got.head.status, 500);
  });
});

test('when Prometheus hangs up, the scrape is forgotten at once', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    exchange(port, poll('host-a', 'X-Pushprox-Poll-Capacity: 1\r\n')).catch(() => undefined);
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    const sock = await connect(port);
    sock.write(scrape('http://host-a:9100/metrics', '30'));
    await until(() => proxy.coordinator.stats().activeScrapes === 1);
    sock.destroy();
    await until(() => proxy.coordinator.stats().activeScrapes === 0, 1000, 'the scrape to be forgotten');
  });
});

test('a scraper hanging up while a pushed body is being relayed does not crash the proxy', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const p = exchange(port, poll('host-a'));
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    const prom = await connect(port);
    prom.on('error', () => undefined);
    prom.write(scrape('http://host-a:9100/metrics', '30'));
    const id = parseRequest((await p).body).head.headers.get('Id')!;
    const size = 32 * 1024 * 1024;
    const inner = `HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\nId: ${id}\r\n\r\n`;
    const pusher = await connect(port);
    pusher.on('error', () => undefined);
    pusher.write(`POST /push HTTP/1.1\r\nHost: proxy\r\nContent-Length: ${inner.length + size}\r\n\r\n${inner}`);
    let got = 0;
    // Hang up once the relay is well under way (the proxy has written head and body bytes).
    prom.on('data', (c: Buffer) => {
      got += c.length;
      if (got > 1024 * 1024) prom.destroy();
    });
    const chunk = Buffer.alloc(1024 * 1024, 'a');
    for (let i = 0; i < 32 && !pusher.destroyed; i++) {
      if (!pusher.write(chunk)) await new Promise((r) => pusher.once('drain', r).once('close', r));
    }
    await until(() => proxy.coordinator.stats().activeScrapes === 0, 5000, 'the cut relay to be forgotten');
    assert.ok(got > 1024 * 1024, `the scraper got ${got} bytes before hanging up`);
    pusher.destroy();
    // (An uncaught exception would have failed this test.) The proxy still serves.
    const again = exchange(port, poll('host-a'));
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    const s = exchange(port, scrape('http://host-a:9100/metrics', '5'));
    const id2 = parseRequest((await again).body).head.headers.get('Id')!;
    await exchange(port, push(id2, 'up 1\n'));
    assert.equal((await s).body.toString(), 'up 1\n');
  });
});

test('/poll and /push are counted under upstream path labels, and a query string does not change the route', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const hello = await exchange(port, poll('host-a', 'X-Pushprox-Poll-Capacity: 1\r\nX-Pushprox-Hello: 1\r\n').replace('POST /poll ', 'POST /poll?x=1 '));
    assert.equal(hello.head.status, 204);
    await exchange(port, push('00000000-0000-4000-8000-000000000000', 'x'));
    const metrics = (await exchange(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')).body.toString();
    assert.match(metrics, /^pushprox_http_requests_total\{code="204",path="\/poll"\} 1$/m);
    assert.match(metrics, /^pushprox_http_requests_total\{code="404",path="\/push"\} 1$/m);
    assert.match(metrics, /^pushprox_http_duration_seconds_count\{path="\/poll"\} 1$/m);
  });
});

test('/poll metrics count a poll once its answer was written in full; a poll whose client hung up is not counted', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const metric = async (re: RegExp) => {
      const text = (await exchange(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')).body.toString();
      return Number(re.exec(text)?.[1]);
    };
    const count = /^pushprox_http_duration_seconds_count\{path="\/poll"\} (\S+)$/m;
    const dead = await connect(port);
    dead.write(poll('host-a', 'X-Pushprox-Poll-Capacity: 1\r\n'));
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    dead.destroy();
    await until(() => proxy.coordinator.stats().waitingPolls === 0, 1000, 'the dead poll to be forgotten');
    assert.equal(await metric(count), 0);
    const live = exchange(port, poll('host-a', 'X-Pushprox-Poll-Capacity: 1\r\n'));
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    void exchange(port, scrape('http://host-a:9100/metrics', '5')).catch(() => undefined);
    assert.equal((await live).head.status, 200);
    assert.equal(await metric(/^pushprox_http_requests_total\{code="200",path="\/poll"\} (\S+)$/m), 1);
    assert.equal(await metric(count), 1);
  });
});
