/**
 * docs/operations.md (Signals) and README: SIGTERM and SIGINT (Ctrl-C) stop the proxy
 * gracefully: a push under way when the signal arrives is still relayed to its scraper,
 * then the process exits 0. A real proxy process on loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequest } from '@pushprox/shared';
import { closing, connect, exchange, readOne } from './helpers.js';
import { spawnProxy } from './proxy-process.js';

const poll = (fqdn: string) => `POST /poll HTTP/1.1\r\nHost: proxy\r\nContent-Length: ${Buffer.byteLength(fqdn)}\r\n\r\n${fqdn}`;

async function waitForLog(log: () => string, re: RegExp, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!re.test(log())) {
    if (Date.now() > deadline) throw new Error(`expected the log to match ${re} within ${ms} ms, got:\n${log()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} stops the proxy gracefully: a push under way is relayed in full, then it exits 0`, { timeout: 30_000 }, async (t) => {
    const proxy = await spawnProxy(['--shutdown.timeout=10s']);
    t.after(() => proxy.stop());
    const polled = exchange(proxy.port, poll('host-a'), 10_000);
    const prom = await connect(proxy.port);
    prom.on('error', () => {});
    prom.write(closing(Buffer.from('GET http://host-a:9100/metrics HTTP/1.1\r\nHost: host-a:9100\r\nX-Prometheus-Scrape-Timeout-Seconds: 20\r\n\r\n')));
    const answer = readOne(prom, 20_000);
    answer.catch(() => {});
    const id = parseRequest((await polled).body).head.headers.get('Id')!;

    const body = 'up 1\n'.repeat(1000);
    const inner = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nId: ${id}\r\n\r\n${body}`;
    const pusher = await connect(proxy.port);
    pusher.on('error', () => {});
    const half = inner.length >> 1;
    pusher.write(`POST /push HTTP/1.1\r\nHost: proxy\r\nContent-Length: ${inner.length}\r\n\r\n${inner.slice(0, half)}`);
    // Let the proxy read the first half before the signal, so the push is under way.
    await new Promise((r) => setTimeout(r, 200));
    process.kill(proxy.pid, signal);
    await waitForLog(proxy.log, new RegExp(`msg="Shutting down" signal=${signal}`), 10_000);
    pusher.write(inner.slice(half));

    const got = await answer;
    assert.equal(got.head.status, 200, got.body.toString());
    assert.equal(got.body.toString(), body);
    const deadline = Date.now() + 15_000;
    while (proxy.exited() === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(proxy.exited(), '0', `expected exit code 0 after ${signal}:\n${proxy.log()}`);
    pusher.destroy();
  });
}
