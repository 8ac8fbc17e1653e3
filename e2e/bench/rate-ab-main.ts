import path from 'node:path';
import { Proc, stopChildrenOnSignals } from '../src/procs.js';
import { waitRegistered } from '../src/proxy-api.js';
import { benchExporter } from './bench-exporter.js';
import { cpuMsPreciseOf } from './procstat.js';
import { schedule } from './real-rate.js';
import { summarize } from './stats.js';

/**
 * Two builds side by side in the same time window: the real-rate schedule
 * (real-rate.ts) through the proxy and clients of each tree at once, against
 * one exporter, so the load of a shared machine falls on both alike. Prints
 * one JSON line per tree: p50/p99 and CPU per scrape of its proxy and its
 * clients (schedstat, ns). Trees are worktrees or copies with a build.
 *
 *   node e2e/dist/bench/rate-ab-main.js --trees=/tmp/old,/path/new [--targets=20]
 *     [--interval-ms=2000] [--seconds=60] [--client-args=--no-proxy.channel]
 */
const argv = new Map(process.argv.slice(2).map((a) => {
  const i = a.indexOf('=');
  return i < 0 ? [a.replace(/^--/, ''), ''] : [a.slice(2, i), a.slice(i + 1)];
}));
const trees = (argv.get('trees') ?? '').split(',').filter(Boolean);
if (trees.length === 0) throw new Error('expected --trees=DIR[,DIR...], got none');
const targets = Number(argv.get('targets') ?? 20);
const intervalMs = Number(argv.get('interval-ms') ?? 2_000);
const seconds = Number(argv.get('seconds') ?? 60);
const clientArgs = (argv.get('client-args') ?? '').split(' ').filter(Boolean);

stopChildrenOnSignals();
const hosts = Array.from({ length: targets }, (_, i) => `127.0.1.${10 + i}`);
const exp = await benchExporter(10 * 1024, false, hosts);
const urls = hosts.map((h) => `http://${h}:${exp.port}/metrics`);
const stacks: Array<{ tree: string; proxy: Proc; clients: Proc[]; port: number }> = [];
try {
  for (const tree of trees) {
    const proxy = new Proc(`proxy ${tree}`, process.execPath, [path.join(tree, 'packages/proxy/bin/pushprox-proxy.js'), '--web.listen-address=127.0.0.1:0']);
    const m = await proxy.waitFor(/msg=Listening address=(127\.\d+\.\d+\.\d+):(\d+)/);
    const port = Number(m[2]);
    const clients = hosts.map(
      (h) => new Proc(`client ${h} ${tree}`, process.execPath, [path.join(tree, 'packages/client/bin/pushprox-client.js'), `--proxy-url=http://127.0.0.1:${port}`, `--fqdn=${h}`, '--metrics-addr=127.0.0.1:0', ...clientArgs]),
    );
    stacks.push({ tree, proxy, clients, port });
    await waitRegistered(`http://127.0.0.1:${port}`, hosts, { timeoutMs: 120_000 });
  }
  // Each tree's scrapes a quarter interval after the previous tree's, so they do not collide.
  const run = (secs: number) =>
    Promise.all(stacks.map(async (s, i) => {
      await new Promise((r) => setTimeout(r, (i * intervalMs) / (4 * stacks.length)));
      return schedule(urls, intervalMs, secs, s.port);
    }));
  await run(3);
  const cpu = () => stacks.map((s) => ({ proxy: cpuMsPreciseOf(s.proxy.pid), clients: s.clients.reduce((n, c) => n + cpuMsPreciseOf(c.pid), 0) }));
  const c0 = cpu();
  const results = await run(seconds);
  const c1 = cpu();
  stacks.forEach((s, i) => {
    const r = results[i]!;
    const v = summarize(r.via);
    const d = summarize(r.direct);
    const n = Math.max(1, r.via.length);
    console.log(JSON.stringify({
      tree: s.tree, targets, intervalMs, seconds, scrapes: r.via.length, errors: r.errors,
      p50: +v.p50.toFixed(3), p90: +v.p90.toFixed(3), p99: +v.p99.toFixed(3), direct_p50: +d.p50.toFixed(3), direct_p99: +d.p99.toFixed(3),
      proxy_cpu_ms_per_scrape: +((c1[i]!.proxy - c0[i]!.proxy) / n).toFixed(3),
      client_cpu_ms_per_scrape: +((c1[i]!.clients - c0[i]!.clients) / n).toFixed(3),
    }));
  });
} finally {
  await Promise.all([...stacks.flatMap((s) => [s.proxy.stop('SIGINT'), ...s.clients.map((c) => c.stop('SIGINT'))]), exp.stop()]);
}
