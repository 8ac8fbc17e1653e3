/**
 * SECURITY.md threat 4: the client never follows redirects. An exporter (or whatever
 * answers on an allowed port) that redirects must not lead the client to another host,
 * port or path past its scrape policy: the redirect itself is pushed back to Prometheus.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scrapePolicy, startClient } from '../../src/index.js';
import { FakeProxy, FQDN, METRICS_TEXT, scrapeRequest, startExporter, testConfig } from '../helpers.js';

for (const status of [301, 302, 303, 307, 308]) {
  test(`the client never follows redirects: a ${status} to a forbidden port is pushed back as it is, the other port never asked`, { timeout: 20_000 }, async (t) => {
    const proxy = await FakeProxy.start('upstream');
    t.after(() => proxy.close());
    const inside = await startExporter((_req, res) => res.end('secret 1\n'));
    t.after(() => inside.close());
    const location = `http://${FQDN}:${inside.port}/metrics`;
    const exporter = await startExporter((req, res) => {
      if (req.url === '/metrics') return res.end(METRICS_TEXT);
      res.writeHead(status, { Location: location, 'Content-Type': 'text/plain' }).end('moved\n');
    });
    t.after(() => exporter.close());
    const client = await startClient(testConfig(proxy.url, { scrapePolicy: scrapePolicy({ allowPorts: [exporter.port] }) }), { env: {} });
    t.after(() => client.stop());

    const { bytes, id } = scrapeRequest({ target: `http://${FQDN}:${exporter.port}/moved` });
    proxy.scrape(bytes);
    const push = await proxy.waitPush(id);
    assert.equal(push.parsed.head.status, status, `expected the exporter's ${status}, got ${push.parsed.head.status}: ${push.parsed.body.toString()}`);
    assert.equal(push.parsed.head.headers.get('Location'), location);
    assert.equal(push.parsed.body.toString(), 'moved\n');
    assert.deepEqual(exporter.requests.map((r) => r.url), ['/moved']);
    assert.equal(inside.requests.length, 0, 'the redirect target was fetched');
  });
}
