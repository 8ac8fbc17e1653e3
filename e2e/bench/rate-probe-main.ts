import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { CLIENT_BIN, PROXY_BIN, Proc, stopChildrenOnSignals } from '../src/procs.js';
import { waitRegistered } from '../src/proxy-api.js';
import { benchExporter } from './bench-exporter.js';
import { cpuMsPreciseOf, cpuSplitOf, cpuSplitOfAll, cpuTotal } from './procstat.js';
import { schedule } from './real-rate.js';
import { summarize } from './stats.js';

/**
 * One real-rate run (real-rate.ts) of the programs of this tree, for A/B runs
 * and profiles of the per-scrape path: prints p50/p99 and each program's CPU
 * per scrape from /proc over the measured window, as one JSON line.
 *
 *   node e2e/dist/bench/rate-probe-main.js [--targets=20] [--interval-ms=2000]
 *     [--seconds=30] [--windows=1] [--client-args=--no-channel]
 *     [--node-args='--v8-flag ...'] [--proxy-node-args='--v8-flag ...']
 *     [--cpu-prof=DIR] [--strace=DIR]
 *
 * --windows=N measures N windows of --seconds back to back on the same
 * processes, one JSON line each: how the figures move as the code warms up.
 * --proxy-node-args go to the proxy only, after --node-args (e.g.
 * `--interrupt-budget=67584`, V8's own, against the proxy's built-in one).
 *
 * --cpu-prof=DIR writes V8 CPU profiles (100 µs sampling) of the proxy and of
 * the first client; --strace=DIR attaches `strace -c -f` to them for the
 * measured window only (syscall counts per program).
 */
const argv = new Map(process.argv.slice(2).map((a) => {
  const i = a.indexOf('=');
  return i < 0 ? [a.replace(/^--/, ''), ''] : [a.slice(2, i), a.slice(i + 1)];
}));
const targets = Number(argv.get('targets') ?? 20);
const intervalMs = Number(argv.get('interval-ms') ?? 2_000);
const seconds = Number(argv.get('seconds') ?? 30);
const windows = Number(argv.get('windows') ?? 1);
const clientArgs = (argv.get('client-args') ?? '').split(' ').filter(Boolean);
const profDir = argv.get('cpu-prof');
const straceDir = argv.get('strace');
for (const d of [profDir, straceDir]) if (d) mkdirSync(d, { recursive: true });

// V8 or node options for both programs, space-separated (e.g. to try V8 tiering flags).
const extraNodeArgs = (argv.get('node-args') ?? '').split(' ').filter(Boolean);
const nodeArgs = (name: string): string[] => extraNodeArgs.concat(profDir ? ['--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${name}.cpuprofile`] : []);
const clientNodeArgs = (i: number): string[] => nodeArgs(`client-${i}`);

stopChildrenOnSignals();
const hosts = Array.from({ length: targets }, (_, i) => `127.0.1.${10 + i}`);
const exp = await benchExporter(10 * 1024, false, hosts);
const proxyNodeArgs = (argv.get('proxy-node-args') ?? '').split(' ').filter(Boolean);
const proxy = new Proc('pushprox-proxy', process.execPath, [...nodeArgs('proxy'), ...proxyNodeArgs, PROXY_BIN, '--web.listen-address=127.0.0.1:0']);
const m = await proxy.waitFor(/msg=Listening address=(127\.\d+\.\d+\.\d+):(\d+)/);
const port = Number(m[2]);
const url = `http://127.0.0.1:${port}`;
const clients = hosts.map(
  (h, i) => new Proc(`client ${h}`, process.execPath, [...clientNodeArgs(i), CLIENT_BIN, `--proxy-url=${url}`, `--fqdn=${h}`, '--metrics-addr=127.0.0.1:0', ...clientArgs]),
);
try {
  await waitRegistered(url, hosts, { timeoutMs: 120_000 });
  await schedule(hosts.map((h) => `http://${h}:${exp.port}/metrics`), intervalMs, 3, port);
  const tracers = straceDir
    ? [['proxy', proxy.pid], ['client', clients[0]!.pid]].map(([name, pid]) => new Proc(`strace ${name}`, 'strace', ['-c', '-f', '-p', String(pid), '-o', path.join(straceDir, `${name}.txt`)]))
    : [];
  if (tracers.length) await new Promise((r) => setTimeout(r, 1_000));
  const precise = (): { proxy: number; clients: number } => ({ proxy: cpuMsPreciseOf(proxy.pid), clients: clients.reduce((n, c) => n + cpuMsPreciseOf(c.pid), 0) });
  for (let w = 0; w < windows; w++) {
    const s0 = precise();
    const p0 = cpuTotal(cpuSplitOf(proxy.pid));
    const c0 = cpuTotal(cpuSplitOfAll(clients));
    const r = await schedule(hosts.map((h) => `http://${h}:${exp.port}/metrics`), intervalMs, seconds, port);
    const p1 = cpuTotal(cpuSplitOf(proxy.pid));
    const c1 = cpuTotal(cpuSplitOfAll(clients));
    const s1 = precise();
    if (w === windows - 1) await Promise.all(tracers.map((t) => t.stop('SIGINT')));
    const v = summarize(r.via);
    const d = summarize(r.direct);
    const n = r.via.length;
    console.log(JSON.stringify({
      tree: path.resolve(PROXY_BIN, '../../../..'), window: w, targets, intervalMs, seconds, scrapes: n, errors: r.errors,
      p50: +v.p50.toFixed(3), p90: +v.p90.toFixed(3), p99: +v.p99.toFixed(3), direct_p50: +d.p50.toFixed(3), direct_p99: +d.p99.toFixed(3),
      proxy_cpu_ms_per_scrape: +(((p1 - p0) * 1000) / n).toFixed(3),
      client_cpu_ms_per_scrape: +(((c1 - c0) * 1000) / n).toFixed(3),
      // The same from schedstat (ns): no 10 ms ticks.
      proxy_cpu_ms_per_scrape_ns: +((s1.proxy - s0.proxy) / n).toFixed(3),
      client_cpu_ms_per_scrape_ns: +((s1.clients - s0.clients) / n).toFixed(3),
    }));
  }
} finally {
  await Promise.all([proxy.stop('SIGINT'), ...clients.map((c) => c.stop('SIGINT')), exp.stop()]);
}
