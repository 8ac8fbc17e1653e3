import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { silentLogger } from '@pushprox/shared';
import { startMetricsServer } from '../../src/metrics.js';
import { ClientStatusLog, CLIENT_HISTORY_LENGTH, LinkStatus } from '../../src/status/recorder.js';
import { createClientStatusHandler } from '../../src/status/routes.js';

function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the metrics listener serves the status page only to a browser at /, its assets and /api/v1/status; every other request gets the metrics', async (t) => {
  const registry = new Registry();
  const server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, registry, silentLogger, createClientStatusHandler(() => ({ ok: true })));
  t.after(() => server!.close());
  const port = (server!.address as AddressInfo).port;
  const page = await get(port, '/', { accept: 'text/html,application/xhtml+xml' });
  assert.equal(page.status, 200);
  assert.match(page.headers['content-type'] ?? '', /^text\/html/);
  assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  assert.match((await get(port, '/', { accept: 'application/openmetrics-text;version=1.0.0,text/plain;q=0.5' })).headers['content-type'] ?? '', /^text\/plain|openmetrics/);
  assert.equal((await get(port, '/metrics', { accept: 'text/html' })).headers['content-type'], registry.contentType);
  assert.deepEqual(JSON.parse((await get(port, '/api/v1/status')).body), { status: 'success', data: { ok: true } });
  assert.equal((await get(port, '/api/v1/status', {}, 'POST')).headers['content-type'], registry.contentType, 'other methods get the metrics, as upstream');
  assert.equal((await get(port, '/assets/client-status.js')).status, 200);
});

test('the client status log keeps the last CLIENT_HISTORY_LENGTH scrapes and refusals apart, and backs off only until the wait ends', () => {
  let now = 1_000_000;
  const log = new ClientStatusLog(() => now);
  for (let i = 0; i < CLIENT_HISTORY_LENGTH + 10; i++) log.scrape({ target: `http://h:9100/${i}`, status: 200, durationMs: 1 });
  log.scrape({ target: 'http://h:22/', status: 403, durationMs: 1, error: 'x'.repeat(10_000), refused: 'port' });
  const h = log.history();
  assert.equal(h.scrapes.length, CLIENT_HISTORY_LENGTH);
  assert.equal(h.scrapes[0]!.target, `http://h:9100/${CLIENT_HISTORY_LENGTH + 9}`);
  assert.equal(h.refusals.length, 1);
  assert.equal(h.refusals[0]!.error.length, 512);
  assert.deepEqual(h.totals, { scraped: CLIENT_HISTORY_LENGTH + 10, failed: 0, refused: 1 });
  const link = new LinkStatus(() => now);
  link.backoff('connect ECONNREFUSED', 2000);
  assert.equal(link.connection({ mode: 'single', loops: 1 }).state, 'backing off');
  assert.equal(link.connection({ mode: 'single', loops: 1 }).reason, 'connect ECONNREFUSED');
  now += 2001;
  assert.equal(link.connection({ mode: 'single', loops: 1 }).state, 'polling');
  link.backoff('again', 5000);
  link.pollOk();
  assert.equal(link.connection({ mode: 'channel', loops: 2 }).state, 'channel');
});
