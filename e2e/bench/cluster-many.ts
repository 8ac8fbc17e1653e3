import { fileURLToPath } from 'node:url';
import { BINARIES, missing } from '../src/binaries.js';
import { startNatsCluster } from '../src/nats.js';
import { Proc, startProxyProc, type ProxyProc } from '../src/procs.js';
import { waitRegistered } from '../src/proxy-api.js';
import { runLoad } from './load.js';
import { benchExporter } from './bench-exporter.js';
import { median } from './stats.js';

/**
 * Scenario (iii) over a cluster: 50 FQDNs on channels, played by the built-in
 * load client (one process per proxy), 16 scrapes of 10 KB in flight
 * round-robin over the FQDNs. Run twice in the same run: all 50 on one
 * proxy and every scrape through it; then the 50 spread over three proxies
 * of a cluster and every scrape sent to a proxy that does not hold its
 * client (all forwarded: the worst case). Returns the JSON row.
 */
export async function clusterManyScenario(reps: number): Promise<Record<string, unknown> & { scenario: string }> {
  const scenario = 'cluster: iii 50 clients (built-in load client --channel), 16 parallel, 10 KB, 3 proxies vs 1';
  if (missing('natsServer').length > 0) return { scenario, skipped: `no ${BINARIES.natsServer}` };
  const hosts = Array.from({ length: 50 }, (_, i) => `127.0.1.${10 + i}`);
  const exporter = await benchExporter(10 * 1024, false, hosts);
  const targets = hosts.map((h) => `http://${h}:${exporter.port}/metrics`);
  const main = fileURLToPath(new URL('./load-client-main.js', import.meta.url));
  const loadClient = (proxy: ProxyProc, fqdns: readonly string[]) =>
    new Proc('built-in load client', process.execPath, [main, `--proxy-url=${proxy.url}`, `--fqdns=${fqdns.join(',')}`, '--channel']);
  const load = async (ports: readonly number[]): Promise<{ perS: number; errors: number }> => {
    const per = 16 / ports.length;
    const runs = await Promise.all(
      ports.map((port, i) => runLoad({ target: targets[0]!, targets: targets.filter((_, j) => j % ports.length === i), proxyPort: port, concurrency: per, maxRequests: 20_000, maxSeconds: 8 })),
    );
    return { perS: runs.reduce((n, r) => n + r.latenciesMs.length, 0) / Math.max(...runs.map((r) => r.seconds)), errors: runs.reduce((n, r) => n + r.errors, 0) };
  };
  const one: number[] = [];
  const three: number[] = [];
  let errors = 0;
  try {
    {
      const proxy = await startProxyProc();
      const client = loadClient(proxy, hosts);
      try {
        await waitRegistered(proxy.url, hosts, { timeoutMs: 60_000 });
        await load([proxy.port]);
        for (let i = 0; i < reps; i++) {
          const r = await load([proxy.port]);
          one.push(r.perS);
          errors += r.errors;
        }
      } finally {
        await client.stop();
        await proxy.stop();
      }
    }
    const nats = await startNatsCluster(3);
    const procs: Proc[] = [];
    try {
      const proxies: ProxyProc[] = [];
      for (let i = 0; i < 3; i++) proxies.push(await startProxyProc([`--cluster.nats-url=${nats.urls}`]));
      procs.push(...proxies);
      proxies.forEach((p, i) => procs.push(loadClient(p, hosts.filter((_, j) => j % 3 === i))));
      for (const p of proxies) await waitRegistered(p.url, hosts, { timeoutMs: 60_000 });
      // Each proxy gets the scrapes of the FQDNs j % 3 === i of its own worker group: rotate so most are forwarded.
      const ports = [proxies[1]!.port, proxies[2]!.port, proxies[0]!.port];
      await load(ports);
      for (let i = 0; i < reps; i++) {
        const r = await load(ports);
        three.push(r.perS);
        errors += r.errors;
      }
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await nats.stop();
    }
    const row = {
      scenario,
      reps,
      one_proxy_scrapes_per_s: median(one),
      three_proxies_scrapes_per_s: median(three),
      ratio: median(three) / median(one),
      errors,
    };
    console.log(`${scenario}: ${row.one_proxy_scrapes_per_s.toFixed(0)}/s on one proxy, ${row.three_proxies_scrapes_per_s.toFixed(0)}/s over three (every scrape forwarded), ${row.ratio.toFixed(2)}×, ${errors} errors`);
    console.log(`JSON ${JSON.stringify(row)}`);
    return row;
  } finally {
    await exporter.stop();
  }
}
