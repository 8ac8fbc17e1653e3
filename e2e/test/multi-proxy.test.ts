import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEMO_BODY, startExporter } from '../src/exporter.js';
import { scrapeVia } from '../src/http.js';
import { killAll, startClientProc, startProxyProc } from '../src/procs.js';
import { waitRegistered } from '../src/proxy-api.js';

/**
 * An HA pair without NATS: two proxies, one per Prometheus, and one client
 * given both with --proxy-url twice; each proxy scrapes it, and one proxy
 * going away does not stop the other's scrapes.
 */

after(killAll);

test('a client with --proxy-url given twice is scraped through both proxies, and through one when the other dies', async (t) => {
  const a = await startProxyProc();
  const b = await startProxyProc();
  const exporter = await startExporter();
  t.after(() => exporter.close());
  const client = startClientProc(a.url, '127.0.0.1', [`--proxy-url=${b.url}`]);
  t.after(() => client.stop());
  await waitRegistered(a.url, '127.0.0.1', { client });
  await waitRegistered(b.url, '127.0.0.1', { client });
  for (const p of [a, b, a, b]) {
    const r = await scrapeVia(p.port, `${exporter.url}/metrics`, { timeoutSecs: 5, headers: { 'Accept-Encoding': 'identity' } });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), DEMO_BODY);
  }
  await a.stop('SIGKILL');
  for (let i = 0; i < 5; i++) {
    const r = await scrapeVia(b.port, `${exporter.url}/metrics`, { timeoutSecs: 5 });
    assert.equal(r.status, 200, `scrape ${i} through the surviving proxy`);
  }
  assert.ok(client.running, client.output);
  await b.stop();
});
