import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { HEADER_ID, HEADER_SCRAPE_TIMEOUT } from '@pushprox/shared';
import { startClient } from '../../src/index.js';
import {
  counterValue,
  FakeProxy,
  FQDN,
  listen,
  METRICS_TEXT,
  recordingLogger,
  scrapeRequest,
  startExporter,
  testConfig,
  waitFor,
  waitForAsync,
  type LogLine,
} from '../helpers.js';

const errors = (client: { metrics: { registry: Parameters<typeof counterValue>[0] } }, kind: string): Promise<number> =>
  counterValue(client.metrics.registry, `pushprox_client_${kind}_errors_total`);

function assertErrorPush(push: { parsed: { head: { status: number; reason: string; headers: { get(n: string): string | undefined } }; body: Buffer } }, id: string, status = 500): string {
  const { head, body } = push.parsed;
  assert.equal(head.status, status);
  // Prometheus shows only the status line: the reason phrase carries the error text.
  assert.equal(head.reason, body.toString().slice(0, 200));
  assert.equal(head.headers.get('Content-Type'), 'text/plain; charset=utf-8');
  assert.equal(head.headers.get('Content-Length'), String(body.length));
  assert.equal(head.headers.get(HEADER_ID), id);
  assert.match(head.headers.get(HEADER_SCRAPE_TIMEOUT) ?? '', /^\d+\.\d{6}$/);
  return body.toString();
}

test('fqdn mismatch → 500 push with upstream text, no scrape', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const exporter = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => exporter.close());
  const client = await startClient(testConfig(proxy.url));
  t.after(() => client.stop());

  const { bytes, id } = scrapeRequest({ target: `http://localhost:${exporter.port}/metrics` });
  proxy.scrape(bytes);
  const text = assertErrorPush(await proxy.waitPush(id), id);
  assert.equal(text, "scrape target doesn't match client fqdn");
  assert.equal(exporter.requests.length, 0);
  assert.equal(await errors(client, 'scrape'), 1);
  assert.equal(await errors(client, 'push'), 0);
});

test('exporter down → 500 push `failed to scrape <url>: …`', { timeout: 20_000 }, async (t) => {
  // A port that was just free: bind, note, close.
  const probe = http.createServer();
  const deadPort = await listen(probe);
  await new Promise<void>((r) => probe.close(() => r()));
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const client = await startClient(testConfig(proxy.url));
  t.after(() => client.stop());

  const { bytes, id } = scrapeRequest({ target: `http://${FQDN}:${deadPort}/metrics`, timeoutSeconds: '2' });
  proxy.scrape(bytes);
  const text = assertErrorPush(await proxy.waitPush(id), id);
  assert.match(text, new RegExp(`^failed to scrape http://127\\.0\\.0\\.1:${deadPort}/metrics: .*ECONNREFUSED`));
  assert.equal(await errors(client, 'scrape'), 1);
});

test('exporter slower than the deadline → timeout error pushed before the deadline', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const exporter = await startExporter((_req, res) => {
    const timer = setTimeout(() => res.end(METRICS_TEXT), 5000);
    res.on('close', () => clearTimeout(timer));
  });
  t.after(() => exporter.close());
  const client = await startClient(testConfig(proxy.url));
  t.after(() => client.stop());
  await waitFor(() => proxy.held.length === 1, 5000, 'held poll');

  const { bytes, id } = scrapeRequest({ target: `http://${FQDN}:${exporter.port}/slow`, timeoutSeconds: '1' });
  const sentAt = performance.now();
  proxy.scrape(bytes);
  const push = await proxy.waitPush(id, 10_000);
  const elapsed = push.at - sentAt;
  const text = assertErrorPush(push, id);
  // The budget is what is left of the 1 s deadline minus the push reserve (100 ms) when the
  // scrape starts: at most 900ms, less under load. It is the client's own figure, so the
  // reserve is pinned without a wall-clock window.
  const m = new RegExp(`^failed to scrape http://127\\.0\\.0\\.1:${exporter.port}/slow: timeout after (\\d+)ms`).exec(text);
  assert.ok(m, `unexpected error text: ${text}`);
  const budget = Number(m[1]);
  assert.ok(budget > 0 && budget <= 900, `budget ${budget}ms`);
  // Not before its own budget ran out (10 ms for timer rounding; load only delays the push).
  // The upper bound only tells a cut scrape from one that waited for the exporter's 5 s
  // answer; 4 s is slack a loaded 2-core machine does not need.
  assert.ok(elapsed >= budget - 10 && elapsed < 4000, `error push after ${elapsed.toFixed(0)} ms (budget ${budget}ms)`);
  assert.equal(await errors(client, 'scrape'), 1);
  assert.equal(await errors(client, 'push'), 0);
});

test('a body that stalls after its head is cut at the scrape deadline: the push is aborted and counted, nothing hangs', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const pushEnded: Array<{ at: number; complete: boolean }> = [];
  proxy.pushHandler = (req) => {
    req.resume();
    req.on('close', () => pushEnded.push({ at: performance.now(), complete: req.complete }));
  };
  const exporter = await startExporter((_req, res) => {
    // Chunked, so the push streams; the head and a first chunk come at once, then nothing.
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.write('# a first chunk\n');
  });
  t.after(async () => {
    exporter.server.closeAllConnections();
    await exporter.close();
  });
  const client = await startClient(testConfig(proxy.url));
  t.after(() => client.stop());
  await waitFor(() => proxy.held.length === 1, 5000, 'held poll');

  const { bytes } = scrapeRequest({ target: `http://${FQDN}:${exporter.port}/metrics`, timeoutSeconds: '1' });
  const sentAt = performance.now();
  proxy.scrape(bytes);
  await waitFor(() => pushEnded.length === 1, 15_000, 'the push to end');
  const elapsed = pushEnded[0]!.at - sentAt;
  assert.equal(pushEnded[0]!.complete, false, 'the push was cut, not completed');
  // The deadline is 1 s after the poll reply arrived (after sentAt): the cut is not before it
  // (10 ms for timer rounding; load only delays it). The exporter never ends its body, so the
  // upper bound only tells a cut from a hang; 10 s is slack no loaded machine needs.
  assert.ok(elapsed >= 990 && elapsed < 10_000, `push cut after ${elapsed.toFixed(0)} ms`);
  await waitForAsync(async () => (await errors(client, 'push')) === 1, 2000, 'one push error');
  assert.equal(await errors(client, 'scrape'), 0);
});

test('overload: a full queue → 503 at once; a scrape that would start after its deadline → 503', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const waiting: http.ServerResponse[] = [];
  const exporter = await startExporter((_req, res) => {
    waiting.push(res);
  });
  t.after(() => exporter.close());
  const client = await startClient(testConfig(proxy.url, { scrapeConcurrency: 1 }));
  t.after(() => client.stop());
  const target = `http://${FQDN}:${exporter.port}/metrics`;

  const a = scrapeRequest({ target, timeoutSeconds: '10' });
  proxy.scrape(a.bytes);
  await waitFor(() => exporter.requests.length === 1, 5000, 'first scrape running');
  const b = scrapeRequest({ target, timeoutSeconds: '1' });
  const bAt = performance.now();
  proxy.scrape(b.bytes);
  await waitFor(() => client.scrapesWaiting === 1, 5000, 'second scrape queued');
  const c = scrapeRequest({ target, timeoutSeconds: '10' });
  proxy.scrape(c.bytes);

  // "At once": well before c's 10 s deadline, with room for a loaded machine.
  const cText = assertErrorPush(await proxy.waitPush(c.id, 5000), c.id, 503);
  assert.match(cText, /^client overloaded: 1 scrapes running and 1 waiting \(--scrape\.concurrency=1\)$/);
  const bPush = await proxy.waitPush(b.id, 15_000);
  const bText = assertErrorPush(bPush, b.id, 503);
  assert.match(bText, /^client overloaded: scrape waited .* and would start after its deadline$/);
  const bElapsed = bPush.at - bAt;
  // Answered when its scrape time (1 s less the 100 ms push reserve, counted from after bAt) ran
  // out, not before; the first scrape never ends, so the upper bound only tells that from a
  // scrape left queued. 10 s is slack no loaded machine needs.
  assert.ok(bElapsed >= 890 && bElapsed < 10_000, `queued scrape answered after ${bElapsed.toFixed(0)} ms`);

  for (const res of waiting) res.end(METRICS_TEXT);
  assert.equal((await proxy.waitPush(a.id)).parsed.head.status, 200);
  assert.equal(exporter.requests.length, 1);
  assert.equal(await errors(client, 'scrape'), 2);
});

test('a push the proxy refuses (404 unknown id) counts a push error and logs status and body', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  proxy.pushStatus = () => 404;
  const exporter = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => exporter.close());
  const lines: LogLine[] = [];
  const client = await startClient(testConfig(proxy.url), { logger: recordingLogger(lines) });
  t.after(() => client.stop());
  const { bytes, id } = scrapeRequest({ target: `http://${FQDN}:${exporter.port}/metrics` });
  proxy.scrape(bytes);
  await proxy.waitPush(id);
  await waitForAsync(async () => (await errors(client, 'push')) === 1, 2000, 'push error counted');
  assert.equal(await errors(client, 'scrape'), 0);
  const warn = lines.find((l) => l.level === 'warn' && l.msg === 'Failed to push scrape response');
  assert.ok(warn, JSON.stringify(lines));
  assert.match(String(warn.fields['err']), /status 404: "no such scrape id"/);
  assert.equal(warn.fields['scrape_id'], id);
  // Startup line at info with the normalised URL and the FQDN; nothing per scrape above debug.
  const startup = lines.find((l) => l.level === 'info' && l.msg === 'URL and FQDN info');
  assert.deepEqual(startup?.fields, { proxy_url: proxy.url, fqdn: FQDN });
  assert.equal(lines.filter((l) => l.level === 'debug').length, 0);
});

test('a scrape waiting for a slot starts when the running one is pushed, in order, and is answered', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const held: http.ServerResponse[] = [];
  const exporter = await startExporter((req, res) => {
    if (req.url?.includes('hold')) held.push(res);
    else res.end('second\n');
  });
  t.after(() => exporter.close());
  const client = await startClient(testConfig(proxy.url, { scrapeConcurrency: 1 }));
  t.after(() => client.stop());
  const a = scrapeRequest({ target: `http://${FQDN}:${exporter.port}/metrics?hold=1`, timeoutSeconds: '10' });
  proxy.scrape(a.bytes);
  await waitFor(() => held.length === 1, 5000, 'first scrape running');
  const b = scrapeRequest({ target: `http://${FQDN}:${exporter.port}/metrics`, timeoutSeconds: '10' });
  proxy.scrape(b.bytes);
  await waitFor(() => client.scrapesWaiting === 1, 5000, 'second scrape queued');
  assert.equal(exporter.requests.length, 1, 'the second scrape waits while the only slot is taken');
  held[0]!.end('first\n');
  assert.equal((await proxy.waitPush(a.id)).parsed.body.toString(), 'first\n');
  const bPush = await proxy.waitPush(b.id);
  assert.equal(bPush.parsed.head.status, 200);
  assert.equal(bPush.parsed.body.toString(), 'second\n');
  await waitFor(() => client.scrapesWaiting === 0, 5000, 'nothing left waiting');
});
