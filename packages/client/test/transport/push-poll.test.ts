import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { HEADER_POLL_CAPACITY, HEADER_PUSH_POLL } from '@pushprox/shared';
import { startClient } from '../../src/index.js';
import { counterValue, delay, FakeProxy, FQDN, METRICS_TEXT, scrapeAll, scrapeRequest, startExporter, testConfig, waitFor } from '../helpers.js';

/** Push-and-poll (wire.ts HEADER_PUSH_POLL) from the client's side. */

const errors = (client: { metrics: { registry: Parameters<typeof counterValue>[0] } }, kind: string): Promise<number> =>
  counterValue(client.metrics.registry, `pushprox_client_${kind}_errors_total`);

async function setup(
  t: { after(fn: () => unknown): void },
  opts: { pushPoll: boolean; mode?: 'ours' | 'upstream'; concurrency?: number; exporterDelayMs?: number; shutdownTimeoutMs?: number },
) {
  const proxy = await FakeProxy.start(opts.mode ?? 'ours');
  proxy.pushPoll = opts.pushPoll;
  t.after(() => proxy.close());
  const load = { now: 0, max: 0 };
  const exporter = await startExporter((_req, res) => {
    load.max = Math.max(load.max, ++load.now);
    setTimeout(() => {
      load.now--;
      res.end(METRICS_TEXT);
    }, opts.exporterDelayMs ?? 0);
  });
  t.after(() => exporter.close());
  const client = await startClient(
    testConfig(proxy.url, { scrapeConcurrency: opts.concurrency ?? 2, ...(opts.shutdownTimeoutMs !== undefined && { shutdownTimeoutMs: opts.shutdownTimeoutMs }) }),
  );
  t.after(() => client.stop());
  const target = `http://${FQDN}:${exporter.port}/metrics`;
  /** `load.max`: most exporter requests in flight at once. */
  return { proxy, client, target, load };
}

/** One scrape through the single poll loop, whose push the fake proxy then holds as the next poll. */
async function pushHeldAsPoll(proxy: FakeProxy, target: string): Promise<void> {
  await waitFor(() => proxy.held.length === 1, 5000, 'a held poll');
  const { bytes, id } = scrapeRequest({ target });
  proxy.scrape(bytes);
  await proxy.waitPush(id);
  await waitFor(() => proxy.pushPolls === 1 && proxy.held.length === 1, 5000, 'the push held as a poll');
}

test('with push-poll offered, every push asks for the next scrape and no further /poll is sent', { timeout: 20_000 }, async (t) => {
  const { proxy, client, target } = await setup(t, { pushPoll: true, concurrency: 2 });
  // The first scrape finds no other poll waiting: the client adds a second loop, and no more.
  await waitFor(() => proxy.held.length === 1, 5000, 'a held poll');
  const first = scrapeRequest({ target });
  proxy.scrape(first.bytes);
  await proxy.waitPush(first.id);
  await waitFor(() => proxy.held.length === 2, 5000, '2 held polls');
  const pollsBefore = proxy.polls.length;
  for (let i = 0; i < 20; i++) {
    const { bytes, id } = scrapeRequest({ target });
    proxy.scrape(bytes);
    assert.equal((await proxy.waitPush(id)).parsed.head.status, 200);
  }
  await waitFor(() => proxy.held.length === 2, 5000, 'both loops waiting again');
  assert.equal(client.pollMode, 'push-poll');
  assert.equal(proxy.polls.length, pollsBefore, 'the scrapes came on push replies, not on new polls');
  assert.equal(proxy.pushPolls, 21);
  for (const push of proxy.pushes) {
    assert.equal(push.headers[HEADER_PUSH_POLL.toLowerCase()], FQDN);
    assert.equal(push.headers[HEADER_POLL_CAPACITY.toLowerCase()], '2');
  }
  for (const kind of ['poll', 'push', 'scrape']) assert.equal(await errors(client, kind), 0, kind);
});

test('one scrape at a time keeps two polls, not scrape.concurrency, while push-poll heads wait for the next scrape', { timeout: 20_000 }, async (t) => {
  const { proxy, client, target } = await setup(t, { pushPoll: true, concurrency: 8 });
  // As our proxy under load: the head of a held push-poll leaves only with the next scrape.
  proxy.pushPollHeadEarly = false;
  await waitFor(() => proxy.held.length === 1, 5000, 'a held poll');
  for (let i = 0; i < 30; i++) {
    const { bytes, id } = scrapeRequest({ target });
    proxy.scrape(bytes);
    assert.equal((await proxy.waitPush(id)).parsed.head.status, 200);
    await waitFor(() => proxy.held.length === client.pollLoops, 5000, 'every loop holding a poll');
  }
  assert.equal(client.pollLoops, 2);
  assert.ok(proxy.maxHeld <= 2, `most polls held: ${proxy.maxHeld}`);
  for (const kind of ['poll', 'push', 'scrape']) assert.equal(await errors(client, kind), 0, kind);
});

test('parallel scrapes under push-poll run at once, one per loop; an idle client holds one poll', { timeout: 20_000 }, async (t) => {
  const { proxy, client, target, load } = await setup(t, { pushPoll: true, concurrency: 4, exporterDelayMs: 100 });
  await waitFor(() => proxy.held.length === 1 && client.pollMode === 'push-poll', 5000, 'one held poll');
  await delay(200);
  assert.equal(proxy.maxHeld, 1);
  assert.equal(client.pollLoops, 1);
  for (let round = 0; round < 3; round++) {
    for (const push of await scrapeAll(proxy, target, 4)) assert.equal(push.parsed.head.status, 200);
    await waitFor(() => proxy.held.length === 4, 5000, 'every loop waiting again');
  }
  assert.equal(load.max, 4, 'the four scrapes of a round reached the exporter together');
  assert.equal(client.pollMode, 'push-poll');
  assert.ok(proxy.maxHeld <= 4, `never more waiting than scrape.concurrency (${proxy.maxHeld})`);
  for (const kind of ['poll', 'push', 'scrape']) assert.equal(await errors(client, kind), 0, kind);
});

test('an empty push-poll answer (no work) sends the loop back to /poll without an error', { timeout: 20_000 }, async (t) => {
  const { proxy, client, target } = await setup(t, { pushPoll: true, concurrency: 1 });
  await waitFor(() => proxy.held.length === 1, 5000, 'a held poll');
  const { bytes, id } = scrapeRequest({ target });
  proxy.scrape(bytes);
  await proxy.waitPush(id);
  await waitFor(() => proxy.held.length === 1, 5000, 'the push held as a poll');
  const polls = proxy.polls.length;
  proxy.idleAll();
  await waitFor(() => proxy.polls.length === polls + 1 && proxy.held.length === 1, 5000, 'a fresh /poll');
  const next = scrapeRequest({ target });
  proxy.scrape(next.bytes);
  assert.equal((await proxy.waitPush(next.id)).parsed.head.status, 200);
  for (const kind of ['poll', 'push', 'scrape']) assert.equal(await errors(client, kind), 0, kind);
  assert.equal(client.pollMode, 'push-poll');
});

test('stop() ends a waiting push-poll promptly', { timeout: 60_000 }, async (t) => {
  // A 30 s --shutdown.timeout: "promptly" is then told from "at the timeout" with a bound
  // (10 s) no loaded machine comes near.
  const { proxy, client, target } = await setup(t, { pushPoll: true, concurrency: 1, shutdownTimeoutMs: 30_000 });
  await pushHeldAsPoll(proxy, target);
  const start = performance.now();
  await client.stop();
  assert.ok(performance.now() - start < 10_000, `stop took ${(performance.now() - start).toFixed(0)} ms (--shutdown.timeout=30s)`);
  await waitFor(() => proxy.held.length === 0, 2000, 'the push-poll connection to close');
});

test('a proxy that never sends the push-poll head holds stop() no longer than --shutdown.timeout', { timeout: 60_000 }, async (t) => {
  const { proxy, client, target } = await setup(t, { pushPoll: true, concurrency: 1 });
  proxy.pushPollHeadEarly = false;
  await pushHeldAsPoll(proxy, target);
  const start = performance.now();
  await client.stop();
  const ms = performance.now() - start;
  // testConfig's shutdownTimeoutMs is 2000: the push is aborted as a scrape still running.
  // Not before it (its timer starts inside stop(), after `start`; 10 ms for timer rounding).
  // Without the timeout stop() would wait for a head that never comes: 10 s tells the two
  // apart with slack no loaded machine needs.
  assert.ok(ms >= 1990 && ms < 10_000, `stop took ${ms.toFixed(0)} ms`);
  await waitFor(() => proxy.held.length === 0, 2000, 'the push-poll connection to close');
});

test('a push-poll answer that is not a scrape request is a poll error; the loop recovers and scrapes', { timeout: 20_000 }, async (t) => {
  const { proxy, client, target } = await setup(t, { pushPoll: true, concurrency: 1 });
  await pushHeldAsPoll(proxy, target);
  proxy.scrape(Buffer.from('this is not an HTTP request\r\n\r\n'));
  await waitFor(() => proxy.held.length === 1 && proxy.polls.length >= 3, 5000, 'the loop to poll again');
  assert.equal(await errors(client, 'poll'), 1);
  const next = scrapeRequest({ target });
  proxy.scrape(next.bytes);
  assert.equal((await proxy.waitPush(next.id)).parsed.head.status, 200);
});

for (const [name, mode] of [['an upstream proxy', 'upstream'], ['a proxy offering only multi-poll', 'ours']] as const) {
  test(`against ${name}, pushes carry no push-poll header`, { timeout: 20_000 }, async (t) => {
    const { proxy, client, target } = await setup(t, { pushPoll: false, mode, concurrency: 2 });
    await waitFor(() => proxy.held.length >= 1, 5000, 'a held poll');
    for (let i = 0; i < 5; i++) {
      const { bytes, id } = scrapeRequest({ target });
      proxy.scrape(bytes);
      await proxy.waitPush(id);
      await delay(20);
    }
    assert.equal(client.pollMode, mode === 'upstream' ? 'single' : 'multi');
    for (const push of proxy.pushes) assert.equal(push.headers[HEADER_PUSH_POLL.toLowerCase()], undefined);
    for (const kind of ['poll', 'push', 'scrape']) assert.equal(await errors(client, kind), 0, kind);
  });
}

test('with --proxy.channel against an upstream proxy, the client never asks for an upgrade and polls as upstream', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const upgrades: string[] = [];
  proxy.server.on('upgrade', (req, socket) => {
    upgrades.push(String(req.headers.upgrade));
    socket.destroy();
  });
  const exporter = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => exporter.close());
  const client = await startClient(testConfig(proxy.url, { channel: true }));
  t.after(() => client.stop());
  const pushes = await scrapeAll(proxy, `http://${FQDN}:${exporter.port}/metrics`, 3);
  assert.deepEqual(pushes.map((p) => p.parsed.head.status), [200, 200, 200]);
  assert.equal(client.pollMode, 'single');
  assert.deepEqual(upgrades, []);
  assert.ok(proxy.polls.length >= 3 && proxy.polls.every((p) => p.body === FQDN && p.headers.upgrade === undefined), 'upstream polls only');
});
