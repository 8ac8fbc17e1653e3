import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { DEMO_BODY, startExporter, type TestExporter } from '../src/exporter.js';
import { drainVia, getUrl, scrapeVia } from '../src/http.js';
import { killAll, startClientProc, startProxyProc, type Proc, type ProxyProc } from '../src/procs.js';
import { metricValue, waitRegistered } from '../src/proxy-api.js';

/** The real programs, as an operator runs them, on loopback. */

describe('proxy + client + exporter', () => {
  let proxy: ProxyProc;
  let client: Proc;
  let exporter: TestExporter;
  let slow: TestExporter;
  let gz: TestExporter;

  before(async () => {
    exporter = await startExporter();
    slow = await startExporter({ host: '127.0.0.2', delayMs: 300 });
    gz = await startExporter({ host: '127.0.0.3', gzip: true });
    proxy = await startProxyProc();
    client = startClientProc(proxy.url, '127.0.0.1', ['--scrape.concurrency=8']);
    await waitRegistered(proxy.url, '127.0.0.1');
  });

  after(async () => {
    await killAll();
    await Promise.all([exporter?.close(), slow?.close(), gz?.close()]);
  });

  test('a scrape through proxy_url returns the exporter body and status', async () => {
    const r = await scrapeVia(proxy.port, `${exporter.url}/metrics`, { timeoutSecs: 5 });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.body.toString(), DEMO_BODY);
    assert.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(r.headers['id'], undefined);
    assert.equal(r.headers['x-prometheus-scrape-timeout'], undefined);
    const seen = exporter.requests.at(-1)!;
    assert.equal(seen.headers['x-prometheus-scrape-timeout-seconds'], '4.75', 'the proxy budget: 5 s less its 5% margin');
    assert.equal(seen.url, '/metrics');
  });

  test('gzip bodies pass through byte for byte', async () => {
    const client3 = startClientProc(proxy.url, '127.0.0.3');
    try {
      await waitRegistered(proxy.url, '127.0.0.3');
      const direct = await getUrl(`${gz.url}/metrics`, { gzip: true });
      const via = await scrapeVia(proxy.port, `${gz.url}/metrics`, { timeoutSecs: 5 });
      assert.equal(via.status, 200);
      assert.equal(via.headers['content-encoding'], 'gzip');
      assert.deepEqual(via.body, direct.body);
      assert.equal(gunzipSync(via.body).toString(), DEMO_BODY);
    } finally {
      await client3.stop();
    }
  });

  test('N concurrent scrapes of one host take about the time of one', async (t) => {
    const client2 = startClientProc(proxy.url, '127.0.0.2', ['--scrape.concurrency=8']);
    try {
      await waitRegistered(proxy.url, '127.0.0.2');
      // Let the client learn the proxy's features and open its parallel polls.
      await new Promise((r) => setTimeout(r, 300));
      const one = Date.now();
      assert.equal((await scrapeVia(proxy.port, `${slow.url}/metrics`, { timeoutSecs: 10 })).status, 200);
      const single = Date.now() - one;
      const start = Date.now();
      const all = await Promise.all(
        Array.from({ length: 8 }, () => scrapeVia(proxy.port, `${slow.url}/metrics`, { timeoutSecs: 10 })),
      );
      const elapsed = Date.now() - start;
      t.diagnostic(`one scrape ${single} ms; 8 parallel scrapes ${elapsed} ms (serial would be ≥ ${8 * 300} ms)`);
      assert.deepEqual(all.map((r) => r.status), Array(8).fill(200));
      assert.ok(elapsed < 2 * 300 + 400, `8 parallel scrapes took ${elapsed} ms`);
    } finally {
      await client2.stop();
    }
  });

  test('a 100 MB body streams through with bounded proxy and client memory', async (t) => {
    const bytes = 100 * 1024 * 1024;
    // Warm both processes up with one mid-sized scrape, then take idle RSS.
    await drainVia(proxy.port, `${exporter.url}/big?bytes=${4 * 1024 * 1024}`, 30);
    await new Promise((r) => setTimeout(r, 200));
    const idle = { proxy: proxy.rss(), client: client.rss() };
    const peak = { ...idle };
    const sample = () => {
      peak.proxy = Math.max(peak.proxy, proxy.rss());
      peak.client = Math.max(peak.client, client.rss());
    };
    const timer = setInterval(sample, 20);
    const start = Date.now();
    let got: { status: number; bytes: number };
    try {
      got = await drainVia(proxy.port, `${exporter.url}/big?bytes=${bytes}`, 60);
    } finally {
      clearInterval(timer);
    }
    sample();
    const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
    t.diagnostic(
      `100 MB in ${Date.now() - start} ms; proxy RSS idle ${mb(idle.proxy)} MB peak ${mb(peak.proxy)} MB; ` +
        `client RSS idle ${mb(idle.client)} MB peak ${mb(peak.client)} MB`,
    );
    assert.equal(got.status, 200);
    assert.equal(got.bytes, bytes);
    assert.ok(peak.proxy - idle.proxy < 20 * 1024 * 1024, `proxy grew ${mb(peak.proxy - idle.proxy)} MB`);
    assert.ok(peak.client - idle.client < 20 * 1024 * 1024, `client grew ${mb(peak.client - idle.client)} MB`);
  });

  test('a dead client is noticed: its scrape fails within the deadline and nothing stays pending', async () => {
    const c4 = startClientProc(proxy.url, '127.0.0.4');
    await waitRegistered(proxy.url, '127.0.0.4');
    await c4.stop('SIGKILL');
    const start = Date.now();
    const r = await scrapeVia(proxy.port, 'http://127.0.0.4:9100/metrics', { timeoutSecs: 1 });
    assert.equal(r.status, 500);
    assert.match(r.body.toString(), /^Error scraping "http:\/\/127\.0\.0\.4:9100\/metrics": Timeout reached/);
    assert.ok(Date.now() - start < 2500);
    assert.equal(await metricValue(proxy.url, 'pushprox_proxy_pending_scrapes'), 0);
  });

  test('SIGTERM: client and proxy exit 0 promptly', async () => {
    const start = Date.now();
    const c = await client.stop('SIGTERM');
    const p = await proxy.stop('SIGTERM');
    assert.deepEqual(c, { code: 0, signal: null });
    assert.deepEqual(p, { code: 0, signal: null });
    assert.ok(Date.now() - start < 12_000);
  });
});
