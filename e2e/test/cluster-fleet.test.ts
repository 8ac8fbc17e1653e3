import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { requireBinaries } from '../src/binaries.js';
import { startExporter, type TestExporter } from '../src/exporter.js';
import { LegacyClient } from '../src/legacy-client.js';
import { startNatsCluster } from '../src/nats.js';
import { startNginxTcp } from '../src/nginx.js';
import { CLIENT_BIN, killAll, Proc, startClientProc, startProxyProc, type ProxyProc } from '../src/procs.js';
import { Prometheus } from '../src/prometheus.js';
import { registeredClients } from '../src/proxy-api.js';

/**
 * The whole fleet with real parts: a three-node nats-server cluster, three
 * proxies, nginx as a TCP load balancer in front of them, Debian's
 * Prometheus scraping 20 clients through nginx: ours on channels, ours
 * polling, upstream-shaped ones (all reaching the proxies through nginx), and
 * clients on NATS directly. Drills: kill -9 of one proxy, then of one NATS
 * node; Prometheus misses at most one scrape interval of any target in each.
 */

after(killAll);

const INTERVAL_S = 3;
const host = (i: number) => `127.0.0.${21 + i}`;
const HOSTS = Array.from({ length: 20 }, (_, i) => host(i));

test('Prometheus scrapes 20 clients through nginx in front of three proxies, and kill -9 of one proxy, then of one NATS node, costs each target at most one scrape', async (t) => {
  if (!requireBinaries(t, 'natsServer', 'nginx', 'nginxStream', 'prometheus')) return;
  const nats = await startNatsCluster(3);
  t.after(() => nats.stop());
  const proxies: ProxyProc[] = [];
  for (let i = 0; i < 3; i++) {
    const p = await startProxyProc([`--cluster.nats-url=${nats.urls}`, '--cluster.announce-interval=1s']);
    await p.waitFor(/Cluster: connected to NATS/);
    proxies.push(p);
  }
  const lb = await startNginxTcp(proxies.map((p) => `127.0.0.1:${p.port}`));
  t.after(() => lb.stop());
  const exporters: TestExporter[] = [await startExporter({ host: HOSTS[0] })];
  const port = exporters[0]!.port;
  for (const h of HOSTS.slice(1)) exporters.push(await startExporter({ host: h, port }));
  t.after(() => Promise.all(exporters.map((e) => e.close())));
  const procs: Proc[] = [];
  const legacy: LegacyClient[] = [];
  HOSTS.forEach((h, i) => {
    if (i < 4) procs.push(startClientProc(lb.url, h));
    else if (i < 8) procs.push(startClientProc(lb.url, h, ['--no-proxy.channel']));
    else if (i < 16) legacy.push(new LegacyClient(lb.url, h));
    else procs.push(new Proc(`pushprox-client ${h} on NATS`, process.execPath, [CLIENT_BIN, `--nats-url=${nats.urls}`, `--fqdn=${h}`, '--metrics-addr=']));
  });
  t.after(() => Promise.all([...procs.map((p) => p.stop()), ...legacy.map((l) => l.stop())]));
  const fleetEnd = Date.now() + 30_000;
  for (const p of proxies) {
    while ((await registeredClients(p.url)).length < HOSTS.length && Date.now() < fleetEnd) await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual((await registeredClients(p.url)).sort(), [...HOSTS].sort(), `/clients of ${p.url}`);
  }
  const prom = await Prometheus.start(
    `global:\n  scrape_interval: ${INTERVAL_S}s\n  scrape_timeout: 2s\nscrape_configs:\n` +
      `  - job_name: fleet\n    proxy_url: ${lb.url}/\n    static_configs:\n      - targets: [${HOSTS.map((h) => `'${h}:${port}'`).join(', ')}]\n`,
  );
  t.after(() => prom.stop());
  await prom.waitFor('every target up', 60_000, async () => {
    const up = await prom.query('up{job="fleet"} == 1');
    return up.length === HOSTS.length ? up : undefined;
  });
  // Three clean rounds, then the drill, then time for every client to come back and be scraped again.
  await new Promise((r) => setTimeout(r, INTERVAL_S * 3 * 1000));
  const killedAt = Date.now();
  proxies[0]!.signal('SIGKILL');
  await new Promise((r) => setTimeout(r, INTERVAL_S * 6 * 1000));
  const windowS = Math.ceil((Date.now() - killedAt) / 1000) + INTERVAL_S * 3;
  const missed = await prom.query(`count_over_time(up{job="fleet"}[${windowS}s]) - sum_over_time(up{job="fleet"}[${windowS}s])`);
  const byTarget = Object.fromEntries(missed.map((m) => [m.metric['instance']!, m.value]));
  t.diagnostic(`missed scrapes per target over the ${windowS} s around kill -9 of one proxy: ${JSON.stringify(byTarget)}`);
  assert.equal(missed.length, HOSTS.length);
  for (const [instance, n] of Object.entries(byTarget)) assert.ok(n <= 1, `${instance} missed ${n} scrapes (at most one interval allowed)`);
  const upNow = await prom.query('up{job="fleet"} == 1');
  assert.equal(upNow.length, HOSTS.length, 'every target is up again');

  // Second drill: kill -9 of one NATS node. Proxies and NATS clients reconnect within about 0.25 s.
  await new Promise((r) => setTimeout(r, INTERVAL_S * 2 * 1000));
  const natsKilledAt = Date.now();
  nats.nodes[1]!.proc.signal('SIGKILL');
  await new Promise((r) => setTimeout(r, INTERVAL_S * 5 * 1000));
  const natsWindowS = Math.ceil((Date.now() - natsKilledAt) / 1000);
  const missedNats = await prom.query(`count_over_time(up{job="fleet"}[${natsWindowS}s]) - sum_over_time(up{job="fleet"}[${natsWindowS}s])`);
  const byTargetNats = Object.fromEntries(missedNats.map((m) => [m.metric['instance']!, m.value]));
  t.diagnostic(`missed scrapes per target over the ${natsWindowS} s after kill -9 of one NATS node: ${JSON.stringify(byTargetNats)}`);
  for (const [instance, n] of Object.entries(byTargetNats)) assert.ok(n <= 1, `${instance} missed ${n} scrapes after a NATS node died`);
});
