import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startClient } from '../src/index.js';
import { FakeProxy, scrapeRequest, testConfig, withTimeout } from './helpers.js';

function get(port: number, path: string): Promise<{ status: number; type: string | undefined; body: string }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
        })
        .on('error', reject);
    }),
    5000,
    `GET ${path}`,
  );
}

test('metrics endpoint serves the three counters (upstream names and HELP) on any path', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const client = await startClient(testConfig(proxy.url, { metricsAddr: { host: '127.0.0.1', port: 0 } }));
  t.after(() => client.stop());
  assert.ok(client.metricsAddress);
  const port = client.metricsAddress.port;

  const { bytes, id } = scrapeRequest({ target: 'http://wrong.example:9100/metrics' });
  proxy.scrape(bytes);
  await proxy.waitPush(id);

  for (const path of ['/metrics', '/']) {
    const res = await get(port, path);
    assert.equal(res.status, 200);
    assert.match(res.type ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(res.body, /^# HELP pushprox_client_poll_errors_total Number of poll errors\n# TYPE pushprox_client_poll_errors_total counter\npushprox_client_poll_errors_total 0$/m);
    assert.match(res.body, /^# HELP pushprox_client_push_errors_total Number of push errors\n# TYPE pushprox_client_push_errors_total counter\npushprox_client_push_errors_total 0$/m);
    assert.match(res.body, /^# HELP pushprox_client_scrape_errors_total Number of scrape errors\n# TYPE pushprox_client_scrape_errors_total counter\npushprox_client_scrape_errors_total 1$/m);
    assert.match(res.body, /^process_cpu_user_seconds_total /m);
    // Ours: an upstream proxy offers no channel, so the client polls.
    assert.match(res.body, /^# TYPE pushprox_client_channels gauge\npushprox_client_channels 0$/m);
  }
  await client.stop();
  await assert.rejects(get(port, '/metrics'), /ECONNREFUSED/);
});

test('metrics server failing to listen is logged, the client runs on (as upstream)', { timeout: 20_000 }, async (t) => {
  const blocker = http.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => blocker.close(() => r())));
  const port = (blocker.address() as { port: number }).port;
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const client = await startClient(testConfig(proxy.url, { metricsAddr: { host: '127.0.0.1', port } }));
  t.after(() => client.stop());
  assert.equal(client.metricsAddress, undefined);
  assert.equal(client.pollLoops, 1);
});
