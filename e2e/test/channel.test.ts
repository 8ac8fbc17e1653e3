import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { silentLogger, type Logger } from '@pushprox/shared';
import { resolveProxyConfig, startProxy } from '@pushprox/proxy';
import { parseClientArgs, resolveConfig, startClient } from '@pushprox/client';
import { DEMO_BODY, startExporter } from '../src/exporter.js';
import { scrapeVia } from '../src/http.js';

/** The channel (--proxy.channel, on by default; FEATURE_CHANNEL) between our client and our proxy. */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

async function channelClient(
  proxyUrl: string,
  extra: string[] = [],
  opts: { logger?: Logger; channelLingerMs?: number; channelRetryAfterMs?: number } = {},
) {
  const args = await parseClientArgs(
    [`--proxy-url=${proxyUrl}`, '--fqdn=127.0.0.1', '--metrics-addr=', '--proxy.channel', '--proxy.retry.initial-wait=50ms', '--proxy.retry.max-wait=200ms', ...extra],
    'test',
  );
  return startClient(await resolveConfig(args), opts);
}

function recording(lines: string[]): Logger {
  const log = (level: string) => (msg: string, fields?: Record<string, unknown>) => lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`);
  return { ...silentLogger, warn: log('warn'), info: log('info'), error: log('error') };
}

test('with --proxy.channel, parallel scrapes each get a channel, extras close after the linger, and nothing is lost', async (t) => {
  const proxy = await startProxy(await resolveProxyConfig(['--web.listen-address=127.0.0.1:0']), { logger: silentLogger });
  t.after(() => proxy.close());
  // Each scrape takes 2 s at the exporter: parallelism is shown by order (all six at the
  // exporter before any is answered), not by a wall-clock window a loaded machine could miss.
  const exporter = await startExporter({ delayMs: 2000 });
  t.after(() => exporter.close());
  const client = await channelClient(proxy.url, ['--scrape.concurrency=8'], { channelLingerMs: 1500 });
  t.after(() => client.stop());
  const waiting = (): number => proxy.coordinator.stats().waitingPolls;
  await until(() => client.pollMode === 'channel' && waiting() === 1, 5000, 'one channel waiting');
  for (let round = 0; round < 2; round++) {
    let answered = 0;
    const pending = Array.from({ length: 6 }, () =>
      scrapeVia(proxy.address.port, `${exporter.url}/metrics`, { timeoutSecs: 20 }).then((r) => {
        answered++;
        return r;
      }),
    );
    // One after the other, the sixth would reach the exporter only after five answers.
    await until(() => exporter.requests.length === 6 * (round + 1), 15_000, 'six scrapes at the exporter');
    assert.equal(answered, 0, `round ${round}: ${answered} scrapes were answered before the sixth reached the exporter`);
    const replies = await Promise.all(pending);
    assert.deepEqual(replies.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
    for (const r of replies) assert.equal(r.body.toString(), DEMO_BODY);
    await until(() => waiting() === client.pollLoops, 10_000, 'every channel waiting again');
    assert.ok(client.pollLoops >= 2 && client.pollLoops <= 8, `round ${round}: ${client.pollLoops} channels`);
    await until(() => waiting() === 1 && client.pollLoops === 1, 1500 + 10_000, 'one channel after the linger');
  }
  assert.equal(client.pollMode, 'channel');
  assert.equal(proxy.coordinator.stats().activeScrapes, 0);
  assert.equal(exporter.requests.length, 12);
  // The client's own gauge tells the operator it is on a channel.
  assert.match(await client.metrics.registry.metrics(), /^pushprox_client_channels 1$/m);
});

test('a channel client behind a reverse proxy that refuses upgrades keeps polling, says why, and loses no scrape', async (t) => {
  const proxy = await startProxy(await resolveProxyConfig(['--web.listen-address=127.0.0.1:0']), { logger: silentLogger });
  t.after(() => proxy.close());
  // Passes requests through to the proxy, but answers every upgrade 400 (a reverse proxy not set up for them).
  const front = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: proxy.address.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  front.on('upgrade', (_req, socket) => {
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 26\r\nConnection: close\r\n\r\nupgrades are not supported');
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  t.after(() => {
    front.closeAllConnections();
    front.close();
  });
  const exporter = await startExporter();
  t.after(() => exporter.close());
  const lines: string[] = [];
  const client = await channelClient(`http://127.0.0.1:${(front.address() as AddressInfo).port}`, [], {
    logger: recording(lines),
    channelRetryAfterMs: 150,
  });
  t.after(() => client.stop());
  const refusals = () => lines.filter((l) => l.includes('could not be opened'));
  await until(() => refusals().length === 1, 5000, 'the refused channel to be logged');
  assert.match(refusals()[0]!, /status 400/);
  assert.match(refusals()[0]!, /upgrades are not supported/);
  // What the operator can do about it, now that the channel is on by default.
  assert.match(refusals()[0]!, /let any proxy between client and proxy pass \\"Upgrade: pushprox-channel\/1\\" on \/poll, or run with --no-proxy\.channel/);
  await until(() => proxy.coordinator.stats().waitingPolls >= 1, 5000, 'a poll waiting');
  // Every poll reply offers the channel again; it is retried only after a wait that doubles.
  const started = performance.now();
  let scrapes = 0;
  while (refusals().length < 3 && performance.now() - started < 5000) {
    const r = await scrapeVia(proxy.address.port, `${exporter.url}/metrics`, { timeoutSecs: 5 });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), DEMO_BODY);
    scrapes++;
    await sleep(25);
  }
  assert.deepEqual(
    refusals().map((l) => /"retry_in":"([^"]+)"/.exec(l)?.[1]),
    ['150ms', '300ms', '600ms'],
  );
  t.diagnostic(`${scrapes} scrapes, all 200, while the channel was refused 3 times`);
  assert.notEqual(client.pollMode, 'channel');
  assert.match(await client.metrics.registry.metrics(), /^pushprox_client_channels 0$/m);
});

/** A TCP relay to `port` that can vanish like a crashed process (every connection cut, nothing said). */
async function relayTo(port: number, listenPort = 0): Promise<{ port: number; crash(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((a) => {
    const b = net.connect({ host: '127.0.0.1', port });
    for (const s of [a, b]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    a.pipe(b).on('close', () => a.destroy());
    b.pipe(a).on('close', () => b.destroy());
  });
  await new Promise<void>((r) => server.listen(listenPort, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    crash: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}

test('when the proxy crashes and comes back, a channel client falls back to polling and is scraped again', async (t) => {
  const proxy = await startProxy(await resolveProxyConfig(['--web.listen-address=127.0.0.1:0']), { logger: silentLogger });
  t.after(() => proxy.close());
  const relay = await relayTo(proxy.address.port);
  const exporter = await startExporter();
  t.after(() => exporter.close());
  const lines: string[] = [];
  const client = await channelClient(`http://127.0.0.1:${relay.port}`, [], { logger: recording(lines) });
  t.after(() => client.stop());
  await until(() => client.pollMode === 'channel' && proxy.coordinator.stats().waitingPolls === 1, 5000, 'a channel');
  assert.equal((await scrapeVia(proxy.address.port, `${exporter.url}/metrics`, { timeoutSecs: 5 })).status, 200);
  await relay.crash();
  await until(() => lines.some((l) => l.includes('Lost every channel')), 5000, 'the lost channel to be logged');
  const back = await relayTo(proxy.address.port, relay.port);
  t.after(() => back.crash());
  await until(() => proxy.coordinator.stats().waitingPolls >= 1 && client.pollMode !== 'channel', 10_000, 'the client to poll again');
  const r = await scrapeVia(proxy.address.port, `${exporter.url}/metrics`, { timeoutSecs: 5 });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), DEMO_BODY);
  // After a crash (no RECONNECT) the channel is tried again only after CHANNEL_RETRY_AFTER_MS (60 s).
  assert.notEqual(client.pollMode, 'channel');
});

test('stopping a channel client ends its channels at the proxy at once', async (t) => {
  const proxy = await startProxy(await resolveProxyConfig(['--web.listen-address=127.0.0.1:0']), { logger: silentLogger });
  t.after(() => proxy.close());
  const exporter = await startExporter({ delayMs: 200 });
  t.after(() => exporter.close());
  const client = await channelClient(proxy.url, ['--scrape.concurrency=4']);
  await until(() => client.pollMode === 'channel' && proxy.coordinator.stats().waitingPolls === 1, 5000, 'a channel');
  // Two scrapes in flight while stopping: both are still pushed over their channels.
  const scrapes = Promise.all([1, 2].map(() => scrapeVia(proxy.address.port, `${exporter.url}/metrics`, { timeoutSecs: 5 })));
  await until(() => exporter.requests.length === 2, 2000, 'two scrapes at the exporter');
  const started = performance.now();
  await client.stop();
  // The scrapes take 200 ms; the bound only has to tell "at once" from waiting for the 10 s
  // --shutdown.timeout or a channel's 90 s silence, with room for a loaded machine.
  assert.ok(performance.now() - started < 8000, `stop took ${(performance.now() - started).toFixed(0)} ms`);
  assert.deepEqual((await scrapes).map((r) => r.status), [200, 200]);
  await until(() => proxy.coordinator.stats().waitingPolls === 0, 2000, 'no channel left waiting at the proxy');
});
