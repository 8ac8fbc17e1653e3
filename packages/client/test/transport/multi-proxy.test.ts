import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startClient } from '../../src/index.js';
import { normaliseProxyUrl } from '../../src/config.js';
import { FQDN, FakeProxy, METRICS_TEXT, delay, scrapeAll, startExporter, testConfig, waitFor } from '../helpers.js';

/**
 * --proxy-url given more than once: the client holds polls to every proxy
 * (two Prometheus servers of an HA pair, each with its own proxy, scrape the
 * same client without NATS), each scrape is pushed back to the proxy it came
 * from, and an upstream proxy in the list is polled exactly as upstream's
 * client would (one poll at a time).
 */

test('with two --proxy-url, an upstream proxy and ours both get their scrapes answered, each push to its own proxy', { timeout: 20_000 }, async (t) => {
  const upstream = await FakeProxy.start('upstream');
  t.after(() => upstream.close());
  const ours = await FakeProxy.start('ours');
  t.after(() => ours.close());
  const exporter = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => exporter.close());
  const proxies = [normaliseProxyUrl(upstream.url), normaliseProxyUrl(ours.url)];
  const client = await startClient(testConfig(upstream.url, { proxies, scrapeConcurrency: 4 }));
  t.after(() => client.stop());
  await waitFor(() => upstream.held.length === 1 && ours.held.length === 1, 5000, 'a poll held at each proxy');
  const target = `http://${FQDN}:${exporter.port}/metrics`;
  for (let round = 0; round < 3; round++) {
    const [a, b] = await Promise.all([scrapeAll(upstream, target, 3), scrapeAll(ours, target, 3)]);
    for (const push of [...a, ...b]) assert.equal(push.parsed.head.status, 200);
  }
  assert.equal(upstream.pushes.length, 9, 'every scrape of the upstream proxy was pushed to it');
  assert.equal(ours.pushes.length, 9, 'every scrape of our proxy was pushed to it');
  await delay(100);
  assert.equal(upstream.maxActivePolls, 1, 'the upstream proxy sees one poll at a time, as from upstream\'s client');
});

test('a proxy that is down does not stop the client serving the other one', { timeout: 20_000 }, async (t) => {
  const live = await FakeProxy.start('ours');
  t.after(() => live.close());
  const exporter = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => exporter.close());
  // A port nothing listens on: its polls fail and back off.
  const dead = await FakeProxy.start('ours');
  const deadUrl = dead.url;
  await dead.close();
  const client = await startClient(testConfig(live.url, { proxies: [normaliseProxyUrl(deadUrl), normaliseProxyUrl(live.url)] }));
  t.after(() => client.stop());
  const pushes = await scrapeAll(live, `http://${FQDN}:${exporter.port}/metrics`, 5);
  for (const p of pushes) assert.equal(p.parsed.head.status, 200);
});
