import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEADER_ID } from '@pushprox/shared';
import { parseAllowList, scrapePolicy, startClient, type RunningClient } from '../../src/index.js';
import { allowPortRig, counterValue, FakeProxy, FQDN, METRICS_TEXT, scrapeRequest, startExporter, testConfig, type RecordedPush } from '../helpers.js';

async function refused(client: RunningClient): Promise<Record<string, number>> {
  const metric = client.metrics.registry.getSingleMetric('pushprox_client_scrapes_refused_total') as
    | { get(): Promise<{ values: Array<{ value: number; labels: Record<string, string | number> }> }> }
    | undefined;
  assert.ok(metric, 'pushprox_client_scrapes_refused_total is registered');
  const out: Record<string, number> = {};
  for (const v of (await metric.get()).values) out[String(v.labels['reason'])] = v.value;
  return out;
}

function assertRefusedPush(push: RecordedPush, id: string, message: string): void {
  const { head, body } = push.parsed;
  assert.equal(head.status, 403);
  assert.equal(body.toString(), message);
  // Prometheus shows only the status line: the reason phrase carries the text too.
  assert.equal(head.reason, message);
  assert.equal(head.headers.get(HEADER_ID), id);
}

test('the refused-scrapes counter starts at 0 for every reason', async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const client = await startClient(testConfig(proxy.url));
  t.after(() => client.stop());
  assert.deepEqual(await refused(client), { port: 0, path: 0, method: 0 });
});

test('--allow-port: a forbidden port is pushed back as 403 and never scraped; an allowed one is scraped', { timeout: 20_000 }, async (t) => {
  const { proxy, allowed, forbidden, client } = await allowPortRig(t);

  const bad = scrapeRequest({ target: `http://${FQDN}:${forbidden.port}/metrics` });
  proxy.scrape(bad.bytes);
  assertRefusedPush(await proxy.waitPush(bad.id), bad.id, `port ${forbidden.port} is not allowed (allowed: ${allowed.port})`);
  assert.equal(forbidden.requests.length, 0);

  const good = scrapeRequest({ target: `http://${FQDN}:${allowed.port}/metrics` });
  proxy.scrape(good.bytes);
  const push = await proxy.waitPush(good.id);
  assert.equal(push.parsed.head.status, 200);
  assert.equal(push.parsed.body.toString(), METRICS_TEXT);
  assert.equal(allowed.requests.length, 1);

  assert.deepEqual(await refused(client), { port: 1, path: 0, method: 0 });
  // Policy, not failure: refusals are not scrape errors.
  assert.equal(await counterValue(client.metrics.registry, 'pushprox_client_scrape_errors_total'), 0);
  assert.equal(await counterValue(client.metrics.registry, 'pushprox_client_push_errors_total'), 0);
});

test('--scrape.allow and methods: a forbidden path or method is refused with its reason', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const exporter = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => exporter.close());
  const policy = scrapePolicy({ allow: parseAllowList(`:${exporter.port}/metrics`) });
  const client = await startClient(testConfig(proxy.url, { scrapePolicy: policy }), { env: {} });
  t.after(() => client.stop());

  const path = scrapeRequest({ target: `http://${FQDN}:${exporter.port}/debug/pprof` });
  proxy.scrape(path.bytes);
  assertRefusedPush(await proxy.waitPush(path.id), path.id, `path /debug/pprof on port ${exporter.port} is not allowed (allowed: /metrics)`);

  const method = scrapeRequest({ target: `http://${FQDN}:${exporter.port}/metrics`, method: 'POST' });
  proxy.scrape(method.bytes);
  assertRefusedPush(await proxy.waitPush(method.id), method.id, 'method POST is not allowed (allowed: GET, HEAD)');
  assert.equal(exporter.requests.length, 0);

  const good = scrapeRequest({ target: `http://${FQDN}:${exporter.port}/metrics?x=1` });
  proxy.scrape(good.bytes);
  assert.equal((await proxy.waitPush(good.id)).parsed.head.status, 200);
  assert.deepEqual(exporter.requests.map((r) => r.url), ['/metrics?x=1']);
  assert.deepEqual(await refused(client), { port: 0, path: 1, method: 1 });
  assert.equal(await counterValue(client.metrics.registry, 'pushprox_client_scrape_errors_total'), 0);
});

test('the FQDN check still runs first and stays a 500 scrape error', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const client = await startClient(testConfig(proxy.url, { scrapePolicy: scrapePolicy({ allowPorts: [9100] }) }), { env: {} });
  t.after(() => client.stop());
  const { bytes, id } = scrapeRequest({ target: 'http://elsewhere.example:22/metrics', method: 'POST' });
  proxy.scrape(bytes);
  const push = await proxy.waitPush(id);
  assert.equal(push.parsed.head.status, 500);
  assert.equal(push.parsed.body.toString(), "scrape target doesn't match client fqdn");
  assert.deepEqual(await refused(client), { port: 0, path: 0, method: 0 });
  assert.equal(await counterValue(client.metrics.registry, 'pushprox_client_scrape_errors_total'), 1);
});

test('--use-localhost: registered as the FQDN, scrapes 127.0.0.1 with path and query, Host 127.0.0.1:<port>', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const exporter = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => exporter.close());
  const fqdn = 'host-a.example';
  const config = testConfig(proxy.url, { fqdn, scrapePolicy: scrapePolicy({ allowPorts: [exporter.port], useLocalhost: true }) });
  const client = await startClient(config, { env: {} });
  t.after(() => client.stop());

  const { bytes, id } = scrapeRequest({ target: `http://${fqdn}:${exporter.port}/metrics?collect%5B%5D=cpu&x=1` });
  proxy.scrape(bytes);
  const push = await proxy.waitPush(id);
  assert.equal(push.parsed.head.status, 200);
  assert.equal(push.parsed.body.toString(), METRICS_TEXT);
  assert.equal(proxy.polls[0]?.body, fqdn);
  assert.equal(exporter.requests.length, 1);
  assert.equal(exporter.requests[0]?.url, '/metrics?collect%5B%5D=cpu&x=1');
  assert.equal(exporter.requests[0]?.headers.host, `127.0.0.1:${exporter.port}`);

  // Still only the allowed port, even on 127.0.0.1.
  const other = scrapeRequest({ target: `http://${fqdn}:22/metrics` });
  proxy.scrape(other.bytes);
  assertRefusedPush(await proxy.waitPush(other.id), other.id, `port 22 is not allowed (allowed: ${exporter.port})`);
  assert.equal(exporter.requests.length, 1);
});
