import { performance } from 'node:perf_hooks';
import { BINARIES, missing } from '../src/binaries.js';
import { getUrl } from '../src/http.js';
import { startNatsCluster } from '../src/nats.js';
import { startProxyProc, type ProxyProc } from '../src/procs.js';
import { metricValue } from '../src/proxy-api.js';
import { fileURLToPath } from 'node:url';
import { Proc } from '../src/procs.js';
import { cpuSecondsOf, rssOf } from './procstat.js';
import { median } from './stats.js';

/**
 * Idle clients spread over three proxies of a cluster (three nats-servers):
 * `perProxy` built-in idle clients on channels at each proxy (idle-conns.ts),
 * played by one load process per proxy (idle-conns-main.ts), then an idle
 * window. Measures each proxy's memory per idle client (its own clients,
 * with the others' in its peer table), the NATS traffic at idle
 * (nats-server's /varz byte counters over the window), the proxies' CPU in
 * the window, and /clients on one proxy (the whole fleet).
 */
export async function clusterIdleScenario(perProxy: number, windowSecs = 30): Promise<Record<string, unknown> & { scenario: string }> {
  const scenario = `cluster: ${perProxy * 3} idle clients on channels over 3 proxies`;
  if (missing('natsServer').length > 0) return { scenario, skipped: `no ${BINARIES.natsServer}` };
  const nats = await startNatsCluster(3);
  const proxies: ProxyProc[] = [];
  const conns: Proc[] = [];
  try {
    for (let i = 0; i < 3; i++) proxies.push(await startProxyProc([`--cluster.nats-url=${nats.urls}`, '--registration.max-clients=100000']));
    await new Promise((r) => setTimeout(r, 1000));
    const before = proxies.map((p) => rssOf(p.pid));
    const t0 = performance.now();
    // One load process per proxy: each holds its own clients' connections, within its descriptor limit.
    const main = fileURLToPath(new URL('./idle-conns-main.js', import.meta.url));
    for (let p = 0; p < 3; p++) {
      const c = new Proc(`idle clients of proxy ${p}`, process.execPath, [main, `--port=${proxies[p]!.port}`, `--from=${p * perProxy}`, `--to=${(p + 1) * perProxy}`]);
      conns.push(c);
      await c.waitFor(/started/, 120_000);
    }
    const end = Date.now() + 180_000;
    for (const p of proxies) {
      while ((await metricValue(p.url, 'pushprox_proxy_channels')) < perProxy) {
        if (Date.now() > end) throw new Error(`${p.url}: only ${await metricValue(p.url, 'pushprox_proxy_channels')} of ${perProxy} channels after 180 s`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    // Every proxy sees the whole fleet once the announcements are in.
    while ((await metricValue(proxies[0]!.url, 'pushprox_cluster_remote_clients')) < perProxy * 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 250));
    const connectSecs = (performance.now() - t0) / 1000;
    const clientsMs: number[] = [];
    let listed = 0;
    for (let i = 0; i < 10; i++) {
      const s = performance.now();
      const r = await getUrl(`${proxies[1]!.url}/clients`, { timeoutMs: 30_000 });
      clientsMs.push(performance.now() - s);
      listed = (JSON.parse(r.body.toString()) as unknown[]).length;
    }
    const varz = async () => {
      let bytes = 0;
      for (const n of nats.nodes) {
        const v = JSON.parse((await getUrl(`http://127.0.0.1:${n.monitorPort}/varz`)).body.toString()) as { in_bytes: number };
        bytes += v.in_bytes;
      }
      return bytes;
    };
    const cpu0 = proxies.map((p) => cpuSecondsOf(p.pid));
    const bytes0 = await varz();
    await new Promise((r) => setTimeout(r, windowSecs * 1000));
    const natsBytesPerS = ((await varz()) - bytes0) / windowSecs;
    const cpu = proxies.map((p, i) => cpuSecondsOf(p.pid) - cpu0[i]!);
    const settled = proxies.map((p) => rssOf(p.pid));
    const row = {
      scenario,
      clients: perProxy * 3,
      connect_s: Number(connectSecs.toFixed(1)),
      proxy_kb_per_own_client_settled: settled.map((r, i) => Number(((r - before[i]!) / 1024 / perProxy).toFixed(2))),
      proxy_rss_mb: settled.map((r) => Number((r / 1048576).toFixed(1))),
      nats_in_bytes_per_s_idle: Math.round(natsBytesPerS),
      proxy_cpu_s_in_window: cpu.map((c) => Number(c.toFixed(2))),
      window_s: windowSecs,
      clients_listed: listed,
      clients_ms_p50: Number(median(clientsMs).toFixed(1)),
    };
    console.log(
      `${scenario}: ${row.proxy_kb_per_own_client_settled.join(' / ')} KB per own client (RSS ${row.proxy_rss_mb.join(' / ')} MB), ` +
        `NATS ${row.nats_in_bytes_per_s_idle} B/s at idle, proxy CPU ${row.proxy_cpu_s_in_window.join(' / ')} s in ${windowSecs} s, ` +
        `/clients (${listed} entries) ${row.clients_ms_p50} ms`,
    );
    console.log(`JSON ${JSON.stringify(row)}`);
    return row;
  } finally {
    for (const c of conns) await c.stop();
    for (const p of proxies) await p.stop();
    await nats.stop();
  }
}
