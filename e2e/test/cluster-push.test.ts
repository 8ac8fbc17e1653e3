import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseRequest } from '@pushprox/shared';
import { requireBinaries } from '../src/binaries.js';
import { scrapeVia } from '../src/http.js';
import { startNatsCluster } from '../src/nats.js';
import { killAll, startProxyProc } from '../src/procs.js';
import { metricValue } from '../src/proxy-api.js';

/**
 * A push that reaches another proxy than the poll it answers (a load
 * balancer in between) is passed on to the proxy that handed out its Id, and
 * the client's identity is checked there against the scrape's FQDN: a token
 * for another host is refused with 403, as on the owner itself.
 */

after(killAll);

test('a push passed on between proxies answers the scrape, and a token for another host is refused with 403', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pushprox-cluster-push-'));
  const tokens = path.join(dir, 'tokens');
  writeFileSync(tokens, 'token-for-host-a-0123456789 host-a.example\ntoken-for-other-0123456789 other.example\n');
  const nats = await startNatsCluster(1);
  t.after(() => nats.stop());
  const args = [`--cluster.nats-url=${nats.urls}`, '--cluster.announce-interval=1s', `--client.token-file=${tokens}`];
  const a = await startProxyProc(args);
  const b = await startProxyProc(args);
  await a.waitFor(/Cluster: connected to NATS/);
  await b.waitFor(/Cluster: connected to NATS/);
  const auth = (token: string) => ({ Authorization: `Bearer ${token}` });
  // An upstream-shaped poll at A for host-a.example; the scrape comes in through A too.
  const poll = fetch(`${a.url}/poll`, { method: 'POST', body: 'host-a.example', headers: auth('token-for-host-a-0123456789') });
  await new Promise((r) => setTimeout(r, 300));
  const scrape = scrapeVia(a.port, 'http://host-a.example:9100/metrics', { timeoutSecs: 10, headers: { 'Accept-Encoding': 'identity' } });
  const request = parseRequest(Buffer.from(await (await poll).arrayBuffer()));
  const id = request.head.headers.get('Id')!;
  const push = (token: string) =>
    fetch(`${b.url}/push`, {
      method: 'POST',
      headers: auth(token),
      body: Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\nId: ${id}\r\n\r\npassed_on 1.0\n`),
    });
  const refused = await push('token-for-other-0123456789');
  assert.equal(refused.status, 403, await refused.text());
  const taken = await push('token-for-host-a-0123456789');
  assert.equal(taken.status, 200, await taken.text());
  const r = await scrape;
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'passed_on 1.0\n');
  assert.equal(await metricValue(b.url, 'pushprox_cluster_passed_pushes_total{code="200"}'), 1);
  assert.equal(await metricValue(b.url, 'pushprox_cluster_passed_pushes_total{code="403"}'), 1);
});
