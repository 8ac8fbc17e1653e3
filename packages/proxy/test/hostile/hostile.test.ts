import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseRequest } from '@pushprox/shared';
import { connect, exchange, until, withProxy } from '../helpers.js';
import { drain, idle, judge, latin1, parkScrape, pollRequest, pushRequest, scrapeRequest, send } from './hostile-helpers.js';

/**
 * Hostile input through the real proxy (issue #4), on raw loopback sockets.
 * Covered elsewhere and not repeated here: forged push Ids
 * (client-auth.test.ts), CL+TE in a push, push over --push.max-body-size,
 * a push without Id, empty / spaced / CRLF / 300-char / 2000-byte poll
 * bodies and bad capacities (failure-modes.test.ts), codec rules and codec
 * fuzz (packages/shared/test), scrapes for another host or a forbidden port
 * at the client (packages/client/test/scrape-errors, scrape-restrictions).
 */

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

type Exchanged = Awaited<ReturnType<typeof exchange>>;

/** Records, by index, the exchanges that have settled and how. */
function track(ps: Array<Promise<Exchanged>>): Map<number, Exchanged | Error> {
  const out = new Map<number, Exchanged | Error>();
  ps.forEach((p, i) => void p.then((r) => out.set(i, r), (e: Error) => out.set(i, e)));
  return out;
}

test('a flood of 200 polls for one FQDN keeps at most --poll.max-per-fqdn waiting, expires the rest with 408 at once, and heap stays flat', async (t) => {
  await withProxy({ pollMaxPerFqdn: 16 }, async (proxy) => {
    const port = proxy.address.port;
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, proxy.coordinator.stats().waitingPolls)), 1);
    const heap: number[] = [];
    let last: Array<Promise<Exchanged>> = [];
    let lastDone = new Map<number, Exchanged | Error>();
    try {
      for (let round = 0; round < 5; round++) {
        const replies = Array.from({ length: 200 }, () => exchange(port, pollRequest('flood.example', 9999), 10_000));
        const done = track(replies);
        await until(() => done.size >= 184, 5000, `184 polls answered in round ${round}`);
        await until(() => proxy.coordinator.stats().waitingPolls === 16, 2000, '16 waiting polls');
        for (const r of done.values()) assert.ok(!(r instanceof Error) && r.head.status === 408, `expired poll got ${r instanceof Error ? r.message : r.head.status}`);
        // The 16 that waited in the round before are expired by this round's polls.
        const before = lastDone;
        await until(() => before.size === last.length, 2000, 'the previous round to be expired');
        last = replies;
        lastDone = done;
        heap.push(heapAfterGc());
      }
    } finally {
      clearInterval(sampler);
    }
    assert.ok(peak <= 16, `at most 16 polls waited at once, saw ${peak}`);
    const metrics = await exchange(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(metrics.body.toString(), /^pushprox_proxy_waiting_polls 16$/m);
    assert.deepEqual(proxy.coordinator.registry.list(), ['flood.example']);
    // 1000 polls went through; what is left is bounded by the 16 waiting.
    const growth = heap[4]! - heap[1]!;
    t.diagnostic(`heap after rounds 1-5 (MiB): ${heap.map((h) => (h / 1048576).toFixed(1)).join(' ')}`);
    assert.ok(growth < 4 * 1024 * 1024, `heap grew by ${(growth / 1048576).toFixed(1)} MiB over 3 flood rounds`);

    // The FQDN is still scrapeable: one of the waiting polls takes the scrape.
    const scrape = exchange(port, scrapeRequest('http://flood.example:9100/metrics', '5'));
    const taken = () => [...lastDone.values()].find((r): r is Exchanged => !(r instanceof Error) && r.head.status === 200);
    await until(() => taken() !== undefined, 2000, 'a waiting poll to take the scrape');
    const id = parseRequest(taken()!.body).head.headers.get('Id')!;
    const pushed = await exchange(port, pushRequest(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\nId: ${id}\r\n\r\nup 1\n`));
    assert.equal(pushed.head.status, 200);
    const got = await scrape;
    assert.equal(got.head.status, 200);
    assert.equal(got.body.toString(), 'up 1\n');
    await proxy.close();
    await Promise.allSettled(last);
  });
});

test('polls for 2,000 distinct FQDNs: each waits, /clients and scrapes still answer promptly', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const names = Array.from({ length: 2000 }, (_, i) => `junk-${i.toString(36)}.flood.invalid`);
    // In batches within the listen backlog (511): 2,000 connects at once overflow it, and the
    // dropped SYNs are retried after 1, 3, 7 s..., which once outlasted the wait below.
    const polls: Array<ReturnType<typeof exchange>> = [];
    for (let at = 0; at < names.length; at += 250) {
      for (const n of names.slice(at, at + 250)) polls.push(exchange(port, pollRequest(n), 20_000));
      await until(() => proxy.coordinator.stats().waitingPolls === polls.length, 10_000, `${polls.length} waiting polls`);
    }
    const start = Date.now();
    const clients = await exchange(port, 'GET /clients HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.ok(Date.now() - start < 1000, `/clients took ${Date.now() - start} ms`);
    const list = JSON.parse(clients.body.toString()) as Array<{ targets: string[] }>;
    assert.equal(list.length, 2000);
    assert.deepEqual(new Set(list.map((g) => g.targets[0])), new Set(names));

    const scrape = exchange(port, scrapeRequest(`http://${names[1234]}:9100/metrics`, '5'));
    const reply = await polls[1234]!;
    const id = parseRequest(reply.body).head.headers.get('Id')!;
    await exchange(port, pushRequest(`HTTP/1.1 200 OK\r\nContent-Length: 3\r\nId: ${id}\r\n\r\nok\n`));
    assert.equal((await scrape).body.toString(), 'ok\n');
    await proxy.close();
    await Promise.allSettled(polls);
  });
});

test('an oversized /poll body gets 400 at once and the connection is closed instead of draining the body', async () => {
  await withProxy({}, async (proxy) => {
    for (const framing of ['Content-Length: 1000000000', 'Transfer-Encoding: chunked']) {
      const s = await connect(proxy.address.port);
      const start = Date.now();
      const chunk = framing.startsWith('Transfer') ? `3b9aca00\r\n${'a'.repeat(4096)}` : 'a'.repeat(4096);
      s.write(`POST /poll HTTP/1.1\r\nHost: p\r\n${framing}\r\n\r\n${chunk}`);
      // The sender keeps its connection open and sends no more: only the proxy can end it.
      const { bytes, closed } = await drain(s, 2000);
      assert.ok(closed, `${framing}: the proxy closed the connection`);
      assert.ok(Date.now() - start < 1000, `${framing}: answered in ${Date.now() - start} ms`);
      const got = judge(bytes);
      assert.ok(got.complete, framing);
      assert.equal(got.head.status, 400);
      assert.match(got.body.toString(), /^Error polling: poll body is larger than 1024 bytes\n$/);
    }
    assert.equal(proxy.coordinator.registry.list().length, 0);
  });
});

test('hostile FQDNs in poll bodies get 400; nothing of them reaches a response header or /clients', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const evil = [
      'host-a\0',
      'host-a:9100@evil.example',
      'host-a\rX-Injected: evil',
      'host-a\nX-Injected: evil',
      'host-a\tevil',
      'host-a evil',
      '"evil"},{"targets":["evil"]',
      '<script>evil</script>',
      'evil.example/../x',
      '[::1]',
      '1.2.3.4:80',
      'évil.example',
      'a..evil',
      '-evil.example',
      `${'e'.repeat(64)}.example`,
    ];
    for (const fqdn of evil) {
      const { bytes, closed } = await send(port, pollRequest(fqdn));
      assert.ok(closed, JSON.stringify(fqdn));
      const headEnd = bytes.indexOf('\r\n\r\n');
      const head = bytes.subarray(0, headEnd).toString('latin1');
      assert.doesNotMatch(head, /evil|Injected/i, `${JSON.stringify(fqdn)} leaked into the head: ${JSON.stringify(head)}`);
      const got = judge(bytes);
      assert.ok(got.complete, JSON.stringify(fqdn));
      assert.equal(got.head.status, 400, JSON.stringify(fqdn));
      const body = got.body.toString('latin1');
      assert.match(body, /^Error polling: expected the poll body to be the client's FQDN/, JSON.stringify(fqdn));
      // The body quotes what arrived JSON-escaped: no raw control characters.
      assert.doesNotMatch(body.slice(0, -1), /[\0-\x1f]/, JSON.stringify(fqdn));
    }
    const clients = await exchange(port, 'GET /clients HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(clients.body.toString(), '[]\n');
    await idle(proxy);
  });
});

test('a scrape whose target host carries CR/LF, spaces or controls gets 400 and is never forwarded to a client', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const poll = await connect(port);
    poll.write(pollRequest('host-a', 1));
    const pollSide = drain(poll, 15_000);
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    const targets = [
      'http://host-a\r\nX-Injected: 1\r\n:9100/metrics',
      'http://host-a\rX-Injected: 1:9100/metrics',
      'http://host-a\nX-Injected: 1:9100/metrics',
      'http://host a:9100/metrics',
      'http://host-a\t:9100/metrics',
      'http://host-a\0:9100/metrics',
      'http://host-a%0d%0aX-Injected:%201:9100/metrics',
      'http://host-a%20x:9100/metrics',
      'http://host-a%00:9100/metrics',
    ];
    for (const target of targets) {
      const { bytes, closed } = await send(port, latin1(`GET ${target} HTTP/1.1\r\nHost: host-a:9100\r\nConnection: close\r\n\r\n`));
      assert.ok(closed, JSON.stringify(target));
      const got = judge(bytes);
      assert.ok(got.complete, JSON.stringify(target));
      assert.equal(got.head.status, 400, JSON.stringify(target));
      assert.equal(got.head.headers.get('X-Injected'), undefined);
      // Node reads a bare LF as the end of a version-less (HTTP/0.9) request line.
      if (/^[^\r]*\n/.test(target)) assert.match(got.body.toString(), /expected an HTTP\/1\.x request line, got HTTP\/0\.9/);
      assert.deepEqual(proxy.coordinator.stats(), { waitingPolls: 1, pendingScrapes: 0, activeScrapes: 0 }, JSON.stringify(target));
    }
    await proxy.close();
    // The client's poll was only ever ended by the shutdown: never handed one of these.
    const ended = judge((await pollSide).bytes);
    assert.ok(ended.complete);
    assert.equal(ended.head.status, 204);
  });
});

test('pushed header values with a bare CR or NUL are refused (400); Prometheus gets a 500 with no injected header', async () => {
  await withProxy({}, async (proxy) => {
    for (const value of ['a\rX-Injected: 1', 'a\0X-Injected: 1']) {
      const parked = await parkScrape(proxy, 'host-a', '0.5');
      const inner = `HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Evil: ${value}\r\nId: ${parked.id}\r\n\r\nok\n`;
      const pushed = judge((await send(proxy.address.port, pushRequest(inner))).bytes);
      assert.ok(pushed.complete);
      assert.equal(pushed.head.status, 400);
      assert.match(pushed.body.toString(), /control character/);
      const got = judge((await parked.answer).bytes);
      assert.ok(got.complete);
      assert.equal(got.head.status, 500);
      assert.equal(got.head.headers.get('X-Injected'), undefined);
      assert.equal(got.head.headers.get('X-Evil'), undefined);
      await idle(proxy);
    }
  });
});
