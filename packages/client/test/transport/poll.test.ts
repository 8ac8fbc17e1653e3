import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Agent } from 'undici';
import { FEATURE_MULTI_POLL, FEATURE_PUSH_POLL, HEADER_HELLO, parseDuration, HEADER_POLL_CAPACITY, HEADER_PROXY_FEATURES, STATUS_POLL_IDLE } from '@pushprox/shared';
import { MIN_IDLE_CYCLE_MS, readPollReply, startClient } from '../../src/index.js';
import { counterValue, delay, FakeProxy, FQDN, METRICS_TEXT, recordingLogger, scrapeAll, scrapeRequest, startExporter, testConfig, waitFor, withTimeout, type LogLine } from '../helpers.js';

const errors = (client: { metrics: { registry: Parameters<typeof counterValue>[0] } }, kind: string): Promise<number> =>
  counterValue(client.metrics.registry, `pushprox_client_${kind}_errors_total`);

test('repeated poll errors back off ×1.5 up to the max wait; every retry says hello', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  proxy.pollOverride = () => ({ status: 502, body: 'Bad Gateway from a load balancer' });
  // random 0.5 removes the jitter: the waits are exactly 100, 150, 225, 337.5, 400, 400 ms.
  const lines: LogLine[] = [];
  const client = await startClient(testConfig(proxy.url, { retryInitialWaitMs: 100, retryMaxWaitMs: 400 }), {
    backoffRandom: () => 0.5,
    logger: recordingLogger(lines),
  });
  t.after(() => client.stop());

  await waitFor(() => proxy.polls.length >= 7, 5000, '7 polls');
  await client.stop();
  // The waits the client chose, as it logs them: exact, so ×2 (200 for 150) or no cap fails.
  // Logged as Go durations, as every duration in the logs.
  const logged = lines.filter((l) => l.msg === 'Error polling').map((l) => l.fields['retry_in']);
  assert.deepEqual(logged.slice(0, 6), ['100ms', '150ms', '225ms', '338ms', '400ms', '400ms']);
  const waits = logged.map((w) => parseDuration(String(w)));
  // And the client did wait them: each gap between polls is at least its wait. No upper
  // bound: on a loaded machine a timer may fire late, never early.
  const gaps = proxy.polls.slice(0, 7).map((p, i, a) => (i === 0 ? 0 : p.at - a[i - 1]!.at)).slice(1);
  gaps.forEach((gap, i) => {
    assert.ok(gap >= (waits[i] as number) - 3, `gap ${i}: ${gap.toFixed(1)} ms, shorter than the ${String(waits[i])} ms wait (all: ${gaps.map((g) => g.toFixed(0))})`);
  });
  // The 7th reply may still be in flight when stop() aborts it.
  assert.ok((await errors(client, 'poll')) >= 6);
  for (const p of proxy.polls) assert.equal(p.headers[HEADER_HELLO.toLowerCase()], '1');
});

test('a garbage 200 poll reply is a poll error; the client survives and scrapes afterwards', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  proxy.pollOverride = (_p, i) => (i === 0 ? { status: 200, body: 'this is not\r\nan HTTP request\r\n\r\n' } : i === 1 ? { status: 200, body: Buffer.alloc(2 * 1024 * 1024, 0x41) } : undefined);
  const exporter = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => exporter.close());
  const client = await startClient(testConfig(proxy.url));
  t.after(() => client.stop());

  await waitFor(() => proxy.polls.length >= 3, 5000, 'third poll');
  assert.equal(await errors(client, 'poll'), 2);
  const { bytes, id } = scrapeRequest({ target: `http://${FQDN}:${exporter.port}/metrics` });
  proxy.scrape(bytes);
  const push = await proxy.waitPush(id);
  assert.equal(push.parsed.head.status, 200);
  assert.equal(await errors(client, 'poll'), 2);
});

test('other poll statuses (408, 5xx) are poll errors', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  proxy.pollOverride = (_p, i) => (i === 0 ? { status: 408, body: 'Error WaitForScrapeInstruction: request is expired\n' } : i === 1 ? { status: 503, body: '' } : undefined);
  const client = await startClient(testConfig(proxy.url));
  t.after(() => client.stop());
  await waitFor(() => proxy.polls.length >= 3, 5000, 'third poll');
  assert.equal(await errors(client, 'poll'), 2);
});

test('204 poll replies are not errors, and instant ones are spaced 1 s apart so the loop cannot spin', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('ours');
  t.after(() => proxy.close());
  // Hello → 204 (fake's default), then three idle replies, then hold.
  proxy.pollOverride = (_p, i) => (i >= 1 && i <= 3 ? { status: STATUS_POLL_IDLE } : undefined);
  const exporter = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => exporter.close());
  // A 4 s retry wait would show as a gap if a 204 were taken for an error.
  const client = await startClient(testConfig(proxy.url, { scrapeConcurrency: 1, retryInitialWaitMs: 4000, retryMaxWaitMs: 4000 }));
  t.after(() => client.stop());

  await waitFor(() => proxy.polls.length >= 5, 3900, '5 polls without backoff');
  // Poll 0 is the hello (answered at once, no spacing); polls 1-3 got instant 204s.
  for (let i = 1; i <= 3; i++) {
    const gap = proxy.polls[i + 1]!.at - proxy.polls[i]!.at;
    assert.ok(gap >= MIN_IDLE_CYCLE_MS - 50 && gap < 2000, `gap after idle reply ${i}: ${gap} ms`);
  }
  const { bytes, id } = scrapeRequest({ target: `http://${FQDN}:${exporter.port}/metrics` });
  proxy.scrape(bytes);
  assert.equal((await proxy.waitPush(id)).parsed.head.status, 200);
  assert.equal(await errors(client, 'poll'), 0);
  assert.equal(proxy.polls[0]!.headers[HEADER_HELLO.toLowerCase()], '1');
  for (const p of proxy.polls.slice(1)) assert.equal(p.headers[HEADER_HELLO.toLowerCase()], undefined);
  for (const p of proxy.polls) assert.equal(p.headers[HEADER_POLL_CAPACITY.toLowerCase()], '1');
});

test('an idle client keeps one connection to the proxy: the poll after the hello reuses the hello connection', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('ours');
  t.after(() => proxy.close());
  const client = await startClient(testConfig(proxy.url, { scrapeConcurrency: 8 }));
  t.after(() => client.stop());
  await waitFor(() => proxy.held.length === 1, 5000, 'a held poll');
  await delay(300);
  assert.equal(proxy.polls.length, 2, 'the hello and the held poll');
  assert.equal(proxy.connections, 1);
});

test('upstream-like proxy: exactly one poll in flight at a time, no errors', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const exporter = await startExporter((_req, res) => setTimeout(() => res.end(METRICS_TEXT), 20));
  t.after(() => exporter.close());
  const client = await startClient(testConfig(proxy.url, { scrapeConcurrency: 8 }));
  t.after(() => client.stop());

  for (let round = 0; round < 3; round++) {
    for (const push of await scrapeAll(proxy, `http://${FQDN}:${exporter.port}/metrics`, 4)) assert.equal(push.parsed.head.status, 200);
  }
  await delay(200);
  assert.equal(proxy.maxActivePolls, 1);
  assert.equal(client.pollMode, 'single');
  assert.equal(client.pollLoops, 1);
  for (const kind of ['poll', 'push', 'scrape']) assert.equal(await errors(client, kind), 0, kind);
});

test('ours-like proxy: multi-poll holds one poll while idle and grows under parallel scrapes; scale-down loses no scrape', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('ours');
  t.after(() => proxy.close());
  const exporter = await startExporter((_req, res) => setTimeout(() => res.end(METRICS_TEXT), 50));
  t.after(() => exporter.close());
  const client = await startClient(testConfig(proxy.url, { scrapeConcurrency: 4 }));
  t.after(() => client.stop());

  await waitFor(() => proxy.held.length === 1 && client.pollMode === 'multi', 5000, 'one held poll under multi-poll');
  await delay(200);
  assert.equal(client.pollLoops, 1);
  assert.equal(proxy.maxHeld, 1, 'an idle client holds one poll');

  for (const push of await scrapeAll(proxy, `http://${FQDN}:${exporter.port}/metrics`, 4)) assert.equal(push.parsed.head.status, 200);
  // Each loop re-polls at once after taking a scrape, so fewer than 4 may be needed; more than one is.
  await waitFor(() => proxy.held.length === client.pollLoops, 5000, 'every loop holding a poll');
  assert.ok(client.pollLoops >= 2 && client.pollLoops <= 4, `poll loops after a parallel round: ${client.pollLoops}`);
  assert.ok(proxy.maxHeld <= 4, `never more waiting than scrape.concurrency (${proxy.maxHeld})`);

  // The proxy stops offering multi-poll: every held poll still delivers its scrape.
  proxy.features = false;
  for (const push of await scrapeAll(proxy, `http://${FQDN}:${exporter.port}/metrics`, 4)) assert.equal(push.parsed.head.status, 200);
  await waitFor(() => client.pollLoops === 1, 5000, 'one poll loop');
  assert.equal(client.pollMode, 'single');
  await delay(100);
  assert.equal(proxy.held.length, 1);
  for (const kind of ['poll', 'push', 'scrape']) assert.equal(await errors(client, kind), 0, kind);
});

test('surplus poll loops leave when their polls end without work or fail; one loop stays and grows again', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('ours');
  proxy.pushPoll = true;
  t.after(() => proxy.close());
  const exporter = await startExporter((_req, res) => setTimeout(() => res.end(METRICS_TEXT), 100));
  t.after(() => exporter.close());
  const client = await startClient(testConfig(proxy.url, { scrapeConcurrency: 4 }));
  t.after(() => client.stop());
  const target = `http://${FQDN}:${exporter.port}/metrics`;
  const grow = async (): Promise<void> => {
    for (const push of await scrapeAll(proxy, target, 4)) assert.equal(push.parsed.head.status, 200);
    await waitFor(() => proxy.held.length === 4 && client.pollLoops === 4, 5000, '4 loops holding polls');
  };

  await waitFor(() => proxy.held.length === 1, 5000, 'one held poll');
  await grow();
  // Our proxy ends surplus polls with its no-work reply: 3 loops leave, 1 polls again.
  proxy.idleAll();
  await waitFor(() => client.pollLoops === 1 && proxy.held.length === 1, 5000, 'one loop holding one poll');
  await delay(200);
  assert.equal(client.pollLoops, 1);
  assert.equal(proxy.held.length, 1);
  assert.equal(await errors(client, 'poll'), 0);

  // Poll errors (answers that are not scrape requests): surplus loops leave at once
  // instead of backing off side by side; the untouched poll still waits.
  await grow();
  for (let i = 0; i < 3; i++) proxy.scrape(Buffer.from('this is not an HTTP request\r\n\r\n'));
  await waitFor(() => client.pollLoops === 1, 5000, 'one loop after the poll errors');
  assert.equal(proxy.held.length, 1);
  assert.equal(await errors(client, 'poll'), 3);
  await grow();
  for (const kind of ['push', 'scrape']) assert.equal(await errors(client, kind), 0, kind);
});

test('a poll held past the headers timeout is re-sent, not counted as an error', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const client = await startClient(testConfig(proxy.url), { pollHeadersTimeoutMs: 150 });
  t.after(() => client.stop());
  await waitFor(() => proxy.polls.length >= 3, 5000, '3 polls');
  assert.equal(await errors(client, 'poll'), 0);
  // Only the first poll says hello: a timeout is not an error.
  assert.equal(proxy.polls[1]!.headers[HEADER_HELLO.toLowerCase()], '1');
});

test('stop() aborts a held poll promptly', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const client = await startClient(testConfig(proxy.url));
  await waitFor(() => proxy.held.length === 1, 5000, 'held poll');
  const started = performance.now();
  await withTimeout(client.stop(), 2000, 'stop()');
  assert.ok(performance.now() - started < 1000);
  await waitFor(() => proxy.activePolls === 0, 2000, 'poll connection closed');
  assert.equal(await errors(client, 'poll'), 0);
});

test('a poll held long and then cut by the network (an idle timeout) is re-sent at once, not counted as an error; an early cut is', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('ours');
  t.after(() => proxy.close());
  const client = await startClient(testConfig(proxy.url, { scrapeConcurrency: 1 }), { pollCutAfterMs: 300 });
  t.after(() => client.stop());
  await waitFor(() => proxy.held.length === 1, 5000, 'a held poll');
  await delay(400);
  let polls = proxy.polls.length;
  proxy.held[0]!.socket!.destroy();
  await waitFor(() => proxy.polls.length === polls + 1 && proxy.held.length === 1, 5000, 'the poll re-sent');
  assert.equal(await errors(client, 'poll'), 0, 'a cut after 400 ms of holding is an idle timeout');
  polls = proxy.polls.length;
  proxy.held[0]!.socket!.destroy();
  await waitFor(() => proxy.polls.length > polls && proxy.held.length === 1, 5000, 'the poll re-sent after the error');
  assert.equal(await errors(client, 'poll'), 1, 'a cut at once is a poll error');
});

test('poll replies: each reply is read for its own features, although the last value is remembered', async () => {
  const values = [
    FEATURE_MULTI_POLL,
    FEATURE_MULTI_POLL,
    `${FEATURE_MULTI_POLL}, ${FEATURE_PUSH_POLL}`,
    `${FEATURE_MULTI_POLL}, ${FEATURE_PUSH_POLL}`,
    FEATURE_PUSH_POLL,
    undefined,
    ` ${FEATURE_MULTI_POLL.toUpperCase()} `,
  ];
  let i = 0;
  const server = await startExporter((_req, res) => {
    const value = values[i++];
    res.writeHead(STATUS_POLL_IDLE, value === undefined ? {} : { [HEADER_PROXY_FEATURES]: value });
    res.end();
  });
  const agent = new Agent();
  try {
    const seen = [];
    for (let n = 0; n < values.length; n++) {
      const res = await agent.request({ origin: `http://127.0.0.1:${server.port}`, path: '/poll', method: 'POST', body: 'host-a' });
      const reply = await readPollReply(res, 1024);
      seen.push([reply.multiPoll, reply.pushPoll]);
    }
    assert.deepEqual(seen, [
      [true, false],
      [true, false],
      [true, true],
      [true, true],
      [false, true],
      [false, false],
      [true, false],
    ]);
  } finally {
    await agent.close();
    await server.close();
  }
});
