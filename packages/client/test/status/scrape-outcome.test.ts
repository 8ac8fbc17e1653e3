import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startClient } from '../../src/index.js';
import { FakeProxy, FQDN, METRICS_TEXT, scrapeRequest, startExporter, testConfig } from '../helpers.js';

function statusOf(port: number): Promise<{ history: { scrapes: Array<{ target: string; status: number; error?: string }> } }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/api/v1/status', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve((JSON.parse(body) as { data: never }).data));
      })
      .on('error', reject);
  });
}

test('a module scrape whose output fails verification is one failed scrape on the status page, not a 200 and a 500', { timeout: 30_000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pushprox-outcome-'));
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const exporter = await startExporter((req, res) => res.end(req.url === '/bad' ? 'this is not { metrics\n' : METRICS_TEXT));
  t.after(() => exporter.close());
  const yaml = path.join(dir, 'expexp.yaml');
  await writeFile(yaml, `modules:\n  good: { method: http, http: { port: ${exporter.port} } }\n  bad: { method: http, http: { port: ${exporter.port}, path: /bad } }\n`);
  const client = await startClient(testConfig(proxy.url, { modules: { files: [yaml], dirs: [] }, metricsAddr: { host: '127.0.0.1', port: 0 } }), { env: {} });
  t.after(() => client.stop());
  for (const module of ['good', 'bad']) {
    const req = scrapeRequest({ target: `http://${FQDN}/proxy?module=${module}`, timeoutSeconds: '5' });
    proxy.scrape(req.bytes);
    const pushed = (await proxy.waitPush(req.id, 10_000)).parsed;
    assert.equal(pushed.head.status, module === 'good' ? 200 : 500, pushed.body.toString());
  }
  const { scrapes } = (await statusOf(client.metricsAddress!.port)).history;
  const of = (m: string) => scrapes.filter((s) => s.target.endsWith(`module=${m}`));
  assert.deepEqual(of('good').map((s) => s.status), [200]);
  assert.deepEqual(of('bad').map((s) => s.status), [500], JSON.stringify(of('bad')));
  assert.match(of('bad')[0]!.error ?? '', /line 1/);
});
