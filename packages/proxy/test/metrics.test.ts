import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PATH_POLL, PATH_PUSH } from '@pushprox/shared';
import { PENDING_MAX, ProxyMetrics } from '../src/metrics.js';

const sources = { clients: () => 0, waitingPolls: () => 0, pendingScrapes: () => 0, activeScrapes: () => 0 };
const value = (text: string, re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);

test('proxy metrics held back from prom-client show every observation when read, whichever metric is read first', async () => {
  const m = new ProxyMetrics(sources);
  m.observeProxied(200);
  m.observeProxied(200);
  m.observeProxied(503);
  m.observeApi(PATH_POLL, 200, 0.25);
  m.observeApi(PATH_PUSH, 200, 0.001);
  // One metric read alone (its collect) brings in the others too.
  const duration = await m.httpDuration.get();
  assert.equal(duration.values.find((v) => v.metricName === 'pushprox_http_duration_seconds_count' && v.labels['path'] === PATH_POLL)?.value, 1);
  const text = await m.registry.metrics();
  assert.equal(value(text, /^pushproxy_proxied_requests_total\{code="200"\} (\S+)$/m), 2);
  assert.equal(value(text, /^pushproxy_proxied_requests_total\{code="503"\} (\S+)$/m), 1);
  assert.equal(value(text, /^pushprox_http_requests_total\{code="200",path="\/poll"\} (\S+)$/m), 1);
  assert.equal(value(text, /^pushprox_http_duration_seconds_sum\{path="\/poll"\} (\S+)$/m), 0.25);
  // Nothing is counted twice by a second read.
  assert.equal(value(await m.registry.metrics(), /^pushproxy_proxied_requests_total\{code="200"\} (\S+)$/m), 2);
});

test('proxy metrics nobody reads hold at most PENDING_MAX observations before handing them on', async () => {
  const m = new ProxyMetrics(sources);
  const internals = m.proxiedRequests as unknown as { hashMap: Record<string, { value: number }> };
  for (let i = 0; i < PENDING_MAX; i++) m.observeProxied(200);
  // Handed on without a read of the registry: prom-client's own table has them.
  assert.equal(Object.values(internals.hashMap).reduce((n, e) => n + e.value, 0), PENDING_MAX);
  for (let i = 0; i < 10; i++) m.observeProxied(200);
  assert.equal(value(await m.registry.metrics(), /^pushproxy_proxied_requests_total\{code="200"\} (\S+)$/m), PENDING_MAX + 10);
});
