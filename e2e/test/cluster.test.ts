import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BINARIES, missing, requireBinaries } from '../src/binaries.js';
import { DEMO_BODY, startExporter, type TestExporter } from '../src/exporter.js';
import { drainVia, getUrl, scrapeVia } from '../src/http.js';
import { LegacyClient } from '../src/legacy-client.js';
import { startNatsCluster, type NatsCluster } from '../src/nats.js';
import { killAll, startClientProc, startProxyProc, type Proc, type ProxyProc } from '../src/procs.js';
import { metricValue, registeredClients, waitRegistered } from '../src/proxy-api.js';

/**
 * Three proxies joined over a three-node nats-server cluster (routes on
 * loopback), one client on each (ours on a channel, ours polling, an
 * upstream-shaped one): any scrape to any proxy reaches any client, /clients
 * on any proxy lists the fleet, and the drills of issue #25 hold: a proxy
 * killed, a NATS node killed, all NATS gone and back, a proxy restarted on
 * its address.
 */

after(killAll);

const HOSTS = ['127.0.0.11', '127.0.0.12', '127.0.0.13'] as const;
const ANNOUNCE = '--cluster.announce-interval=1s';

let nats: NatsCluster;
const proxies: ProxyProc[] = [];
const exporters: TestExporter[] = [];
const ours: Proc[] = [];
let legacy: LegacyClient;

async function startProxy(i: number, port = 0): Promise<ProxyProc> {
  // --registration.grace=0s: an unknown FQDN fails at once, as these tests expect (the grace has its own tests).
  const p = await startProxyProc([`--web.listen-address=127.0.0.1:${port}`, `--cluster.nats-url=${nats.urls}`, ANNOUNCE, '--registration.grace=0s']);
  await p.waitFor(/Cluster: connected to NATS/);
  proxies[i] = p;
  return p;
}

/** A scrape of `host`'s exporter through proxy `via`; the status and whether the body is the exporter's. */
async function scrapeOk(via: ProxyProc, host: string): Promise<{ ok: boolean; status: number; text: string }> {
  try {
    const r = await scrapeVia(via.port, `http://${host}:${exporters[0]!.port}/metrics`, { timeoutSecs: 5, timeoutMs: 8000, headers: { 'Accept-Encoding': 'identity' } });
    return { ok: r.status === 200 && r.body.toString() === DEMO_BODY, status: r.status, text: r.body.toString().slice(0, 300) };
  } catch (err) {
    return { ok: false, status: 0, text: (err as Error).message };
  }
}

/** Scrapes every (proxy, host) pair in `pairs` every 100 ms for `ms`; the failures, with when (ms from the loop's start) the failed scrape began. */
async function scrapeLoop(pairs: Array<[ProxyProc, string]>, ms: number): Promise<Array<{ at: number; host: string; status: number; text: string }>> {
  const failures: Array<{ at: number; host: string; status: number; text: string }> = [];
  const start = Date.now();
  for (let round = 0; round < 1000 && Date.now() - start < ms; round++) {
    const began = Date.now() - start;
    const results = await Promise.all(pairs.map(async ([p, h]) => ({ h, r: await scrapeOk(p, h) })));
    for (const { h, r } of results) if (!r.ok) failures.push({ at: began, host: h, status: r.status, text: r.text });
    await new Promise((r) => setTimeout(r, 100));
  }
  return failures;
}

async function waitFleet(timeoutMs = 15_000): Promise<void> {
  for (const p of proxies) await waitRegistered(p.url, HOSTS, { timeoutMs });
}

before(async () => {
  // Each test skips (or, on CI, fails) through requireBinaries.
  if (missing('natsServer').length > 0) return;
  nats = await startNatsCluster(3);
  const first = await startExporter({ host: HOSTS[0] });
  exporters.push(first);
  for (const h of HOSTS.slice(1)) exporters.push(await startExporter({ host: h, port: first.port }));
  for (let i = 0; i < 3; i++) await startProxy(i);
  ours.push(startClientProc(proxies[0]!.url, HOSTS[0]));
  ours.push(startClientProc(proxies[1]!.url, HOSTS[1], ['--no-proxy.channel']));
  legacy = new LegacyClient(proxies[2]!.url, HOSTS[2]);
});

after(async () => {
  await legacy?.stop();
  for (const e of exporters) await e.close();
  await nats?.stop();
});

test('a scrape to any proxy of the cluster reaches any client, and /clients on any proxy lists the fleet once each', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  await waitFleet();
  for (const p of proxies) {
    const listed = await registeredClients(p.url);
    assert.deepEqual(listed, [...HOSTS], `/clients of ${p.url}`);
    for (const h of HOSTS) {
      const r = await scrapeOk(p, h);
      assert.ok(r.ok, `scrape of ${h} through ${p.url}: ${r.status} ${r.text}`);
    }
  }
  // Two of every three scrapes above were forwarded by the proxy that got them.
  assert.equal(await metricValue(proxies[0]!.url, 'pushprox_cluster_forwarded_scrapes_total{code="200"}'), 2);
  assert.equal(await metricValue(proxies[0]!.url, 'pushprox_cluster_served_forwards_total{code="200"}'), 2);
  assert.equal(await metricValue(proxies[0]!.url, 'pushprox_cluster_peers'), 2);
  assert.equal(await metricValue(proxies[0]!.url, 'pushprox_cluster_nats_connected'), 1);
});

test('promtool check metrics passes on a cluster proxy\'s /metrics, cluster series included', async (t) => {
  if (!requireBinaries(t, 'natsServer', 'promtool')) return;
  const text = (await getUrl(`${proxies[0]!.url}/metrics`)).body.toString();
  assert.match(text, /^pushprox_cluster_forward_duration_seconds_count \d+$/m);
  const checked = spawnSync(BINARIES.promtool, ['check', 'metrics'], { input: text, timeout: 15_000, encoding: 'utf8' });
  assert.equal(checked.status, 0, `promtool check metrics:\n${checked.stdout}${checked.stderr}`);
});

test('a 10 MB body crosses the NATS hop whole, and an unknown FQDN still gets the usual 500 at once', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  const bytes = 10 * 1024 * 1024;
  const r = await drainVia(proxies[1]!.port, `http://${HOSTS[0]}:${exporters[0]!.port}/big?bytes=${bytes}`, 30);
  assert.deepEqual(r, { status: 200, bytes });
  const start = Date.now();
  const unknown = await scrapeVia(proxies[1]!.port, 'http://nobody.example:9100/metrics', { timeoutSecs: 5 });
  assert.equal(unknown.status, 500);
  assert.match(unknown.body.toString(), /no client registered for "nobody.example"/);
  assert.ok(Date.now() - start < 1000, `took ${Date.now() - start} ms`);
});

test('kill -9 of one NATS node: every scrape succeeds once the proxies reconnected, within 2 s', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  const pairs: Array<[ProxyProc, string]> = proxies.flatMap((p) => HOSTS.map((h) => [p, h] as [ProxyProc, string]));
  const loop = scrapeLoop(pairs, 6000);
  await new Promise((r) => setTimeout(r, 1000));
  nats.nodes[0]!.proc.signal('SIGKILL');
  const failures = await loop;
  t.diagnostic(`failed scrapes while a NATS node died: ${failures.length} (${JSON.stringify(failures.slice(0, 3))})`);
  // A forward in flight on the dying node at the kill may be lost; any scrape begun 2 s after must succeed.
  const late = failures.filter((f) => f.at > 1000 + 2000);
  assert.deepEqual(late, [], 'scrapes begun more than 2 s after the NATS node died failed');
  await nats.start(0);
});

test('kill -9 of one proxy: scrapes of the clients the other proxies hold never fail', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  await waitFleet();
  const pairs: Array<[ProxyProc, string]> = [
    [proxies[0]!, HOSTS[0]],
    [proxies[0]!, HOSTS[1]],
    [proxies[1]!, HOSTS[0]],
    [proxies[1]!, HOSTS[1]],
  ];
  const loop = scrapeLoop(pairs, 4000);
  await new Promise((r) => setTimeout(r, 1000));
  const killed = proxies[2]!;
  killed.signal('SIGKILL');
  const failures = await loop;
  assert.deepEqual(failures, [], 'scrapes of clients held by live proxies failed');
  // The killed proxy's client drops out of the fleet within three announce intervals.
  const end = Date.now() + 10_000;
  while ((await registeredClients(proxies[0]!.url)).includes(HOSTS[2]) && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(await registeredClients(proxies[0]!.url), [HOSTS[0], HOSTS[1]]);
  // Restarted on the same address: its upstream-shaped client is back, listed once everywhere.
  await startProxy(2, killed.port);
  await waitFleet(20_000);
  for (const p of proxies) assert.deepEqual(await registeredClients(p.url), [...HOSTS], `/clients of ${p.url} after the restart`);
  const r = await scrapeOk(proxies[0]!, HOSTS[2]);
  assert.ok(r.ok, `scrape through the restarted proxy's peer: ${r.status} ${r.text}`);
});

test('all NATS nodes gone: each proxy serves its own clients; the fleet re-forms when NATS returns', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  await waitFleet();
  await nats.stop();
  for (const p of proxies) await p.waitFor(/Cluster: lost NATS/);
  await new Promise((r) => setTimeout(r, 2500));
  for (let i = 0; i < 3; i++) {
    const own = await scrapeOk(proxies[i]!, HOSTS[i]!);
    assert.ok(own.ok, `proxy ${i} serves its own client without NATS: ${own.status} ${own.text}`);
    assert.equal(await metricValue(proxies[i]!.url, 'pushprox_cluster_nats_connected'), 0);
    assert.deepEqual(await registeredClients(proxies[i]!.url), [HOSTS[i]]);
  }
  const other = await scrapeOk(proxies[0]!, HOSTS[1]);
  assert.equal(other.status, 500, 'a client held elsewhere is refused at once while NATS is gone');
  // /-/ready: a proxy that joined once stays ready without NATS; one that never joined is not ready until it does.
  assert.equal((await getUrl(`${proxies[0]!.url}/-/ready`)).status, 200);
  const late = await startProxyProc(['--web.listen-address=127.0.0.1:0', `--cluster.nats-url=${nats.urls}`, ANNOUNCE]);
  t.after(() => late.stop('SIGKILL'));
  assert.equal((await getUrl(`${late.url}/-/ready`)).status, 503, 'not ready before it has joined the fleet');
  for (let i = 0; i < 3; i++) await nats.start(i);
  const readyBy = Date.now() + 20_000;
  while ((await getUrl(`${late.url}/-/ready`)).status !== 200 && Date.now() < readyBy) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await getUrl(`${late.url}/-/ready`)).status, 200, 'ready once joined');
  await waitFleet(20_000);
  for (const p of proxies) for (const h of HOSTS) {
    const r = await scrapeOk(p, h);
    assert.ok(r.ok, `after NATS returned, scrape of ${h} through ${p.url}: ${r.status} ${r.text}`);
  }
  assert.ok((await metricValue(proxies[0]!.url, 'pushprox_cluster_nats_reconnects_total')) >= 1);
  for (const c of ours) assert.ok(c.running, `${c.name} exited:\n${c.output}`);
});
