import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { BINARIES, missing } from '../src/binaries.js';
import { Proc, killAll, startClientProc, startProxyProc, stopChildrenOnSignals } from '../src/procs.js';
import { waitRegistered } from '../src/proxy-api.js';
import { runLoad, runPairedLoad, type LoadOptions, type LoadResult, type PairedResult } from './load.js';
import { PeakSampler, cpuSecondsOf, cpuSplitOfAll, cpuTotal, rssOf } from './procstat.js';
import { spread, summarize, median } from './stats.js';
import { idleClients } from './idle.js';
import { idleRealClients } from './idle-real.js';
import { benchExporter } from './bench-exporter.js';
import { leakScenario } from './leak.js';
import { authFloodScenario } from './auth-flood.js';
import { statusScenario } from './status.js';
import { modulesScenario } from './modules.js';
import { footprintScenario, UNITS_ENV } from './footprint.js';
import { footprintBreakdown } from './footprint-breakdown.js';
import { clusterScenario } from './cluster.js';
import { clusterIdleScenario } from './cluster-idle.js';
import { clusterManyScenario } from './cluster-many.js';
import { mergeResults, readResults, writeCharts, type Row } from './charts.js';
import { promRateScenario } from './prom-rate.js';
import { realRateScenario } from './real-rate.js';
import { herdScenario } from './herd.js';
import { rssSoakScenario } from './rss-soak.js';

/**
 * `npm run bench`: every scenario against the real programs on loopback,
 * each repeated (--reps, default 3) with a direct scrape of the same
 * exporter as the baseline measured in the same run. Prints a table and one
 * JSON line per scenario. Bounded: every load stops after its request count
 * or its time limit.
 */

const argv = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const REPS = Number(argv.get('reps') ?? 3);
const ONLY = argv.get('only')?.split(',');
const MB = 1024 * 1024;
const CORES = availableParallelism();
/**
 * Where every run's JSON rows are merged by scenario (--results=FILE) and the
 * charts drawn from them go (--charts-dir=DIR): BENCHMARKS.md embeds them.
 * --charts-only redraws the charts from the saved rows without running anything.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RESULTS_FILE = argv.get('results') ?? `${ROOT}docs/bench/results.json`;
const CHARTS_DIR = argv.get('charts-dir') ?? `${ROOT}docs/bench`;
/** The JSON rows of this run, for RESULTS_FILE. */
const rows: Row[] = [];

interface Rep {
  direct: LoadResult;
  via: LoadResult;
  proxyPeakRssMb: number;
  clientPeakRssMb: number;
  proxyCpuS: number;
  clientCpuS: number;
  /** Of which in the kernel (system time): socket reads and writes, loopback TCP. */
  proxySysS: number;
  clientSysS: number;
  /** The exporter's and the load generator's (this process) CPU seconds, through the proxy and direct. */
  otherCpuS: number;
  directCpuS: number;
  /** With `paired`: direct and relayed scrapes alternating, after the runs above. */
  paired?: PairedResult;
}

/** CPU seconds this process (the load generator) has used. */
const selfCpuS = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** ` (idle P/C MB)` when the row knows the RSS its processes had before any load. */
function idleNote(extra: Record<string, unknown>): string {
  const { proxy_idle_rss_mb: p, client_idle_rss_mb: c } = extra;
  return typeof p === 'number' && typeof c === 'number' ? ` (idle ${p.toFixed(0)}/${c.toFixed(0)} MB)` : '';
}

function report(name: string, reps: Rep[], extra: Record<string, unknown> = {}) {
  const sps = (r: LoadResult) => r.latenciesMs.length / r.seconds;
  const lat = (which: 'direct' | 'via', q: 'p50' | 'p90' | 'p99' | 'max') => spread(reps.map((r) => summarize(r[which].latenciesMs)[q]));
  const paired = reps.flatMap((r) => (r.paired && r.paired.viaMs.length > 0 ? [r.paired] : []));
  const row = {
    scenario: name,
    reps: reps.length,
    scrapes_per_s: spread(reps.map((r) => sps(r.via))),
    direct_scrapes_per_s: spread(reps.map((r) => sps(r.direct))),
    latency_ms: { p50: lat('via', 'p50'), p90: lat('via', 'p90'), p99: lat('via', 'p99'), max: lat('via', 'max') },
    direct_latency_ms: { p50: lat('direct', 'p50'), p99: lat('direct', 'p99') },
    added_p50_ms: median(reps.map((r) => summarize(r.via.latenciesMs).p50 - summarize(r.direct.latenciesMs).p50)),
    time_ratio_p50: median(reps.map((r) => summarize(r.via.latenciesMs).p50 / summarize(r.direct.latenciesMs).p50)),
    errors: reps.reduce((n, r) => n + r.via.errors, 0),
    direct_errors: reps.reduce((n, r) => n + r.direct.errors, 0),
    proxy_peak_rss_mb: spread(reps.map((r) => r.proxyPeakRssMb)),
    client_peak_rss_mb: spread(reps.map((r) => r.clientPeakRssMb)),
    proxy_cpu_s: spread(reps.map((r) => r.proxyCpuS)),
    client_cpu_s: spread(reps.map((r) => r.clientCpuS)),
    // CPU per relayed scrape: steadier than scrapes/s on a shared machine.
    proxy_cpu_ms_per_scrape: spread(reps.map((r) => (r.proxyCpuS * 1000) / Math.max(1, r.via.latenciesMs.length))),
    client_cpu_ms_per_scrape: spread(reps.map((r) => (r.clientCpuS * 1000) / Math.max(1, r.via.latenciesMs.length))),
    // The kernel's part of that CPU; the rest is user space (JavaScript, V8, libuv).
    proxy_sys_share: spread(reps.map((r) => r.proxySysS / Math.max(1e-9, r.proxyCpuS))),
    client_sys_share: spread(reps.map((r) => r.clientSysS / Math.max(1e-9, r.clientCpuS))),
    // Every process of the run (proxy, clients, exporter, load generator): on CORES cores a
    // scrape cannot take less than all_cpu / CORES once the machine is saturated, nor less
    // than the largest single share when scrapes run one at a time.
    all_cpu_ms_per_scrape: spread(reps.map((r) => ((r.proxyCpuS + r.clientCpuS + r.otherCpuS) * 1000) / Math.max(1, r.via.latenciesMs.length))),
    direct_all_cpu_ms_per_scrape: spread(reps.map((r) => (r.directCpuS * 1000) / Math.max(1, r.direct.latenciesMs.length))),
    ...(paired.length > 0 && {
      // The same ratio from direct and relayed scrapes alternating (runPairedLoad): same machine phase.
      paired_time_ratio_p50: spread(paired.map((p) => summarize(p.viaMs).p50 / summarize(p.directMs).p50)),
      paired_p50_ms: spread(paired.map((p) => summarize(p.viaMs).p50)),
      paired_direct_p50_ms: spread(paired.map((p) => summarize(p.directMs).p50)),
      paired_errors: paired.reduce((n, p) => n + p.errors, 0),
    }),
    cores: CORES,
    ...extra,
  };
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 0) : '-');
  const pct = (n: number) => (Number.isFinite(n) ? `${(n * 100).toFixed(0)}%` : '-');
  console.log(
    `${name.padEnd(34)} ${f(row.scrapes_per_s.median).padStart(7)}/s (direct ${f(row.direct_scrapes_per_s.median)}/s)  ` +
      `p50 ${f(row.latency_ms.p50.median)} p90 ${f(row.latency_ms.p90.median)} p99 ${f(row.latency_ms.p99.median)} max ${f(row.latency_ms.max.median)} ms ` +
      `(direct p50 ${f(row.direct_latency_ms.p50.median)})  errors ${row.errors}  proxy ${f(row.proxy_peak_rss_mb.median)} MB  client ${f(row.client_peak_rss_mb.median)} MB${idleNote(extra)}  ` +
      `CPU/scrape proxy ${f(row.proxy_cpu_ms_per_scrape.median)} client ${f(row.client_cpu_ms_per_scrape.median)} ` +
      `(kernel ${pct(row.proxy_sys_share.median)}/${pct(row.client_sys_share.median)}) ` +
      `all ${f(row.all_cpu_ms_per_scrape.median)} ms (direct all ${f(row.direct_all_cpu_ms_per_scrape.median)})` +
      (row.paired_time_ratio_p50
        ? `  paired: p50 ${f(row.paired_p50_ms!.median)} vs ${f(row.paired_direct_p50_ms!.median)} ms, ` +
          `${row.paired_time_ratio_p50.median.toFixed(2)}x (${row.paired_time_ratio_p50.min.toFixed(2)}-${row.paired_time_ratio_p50.max.toFixed(2)})`
        : ''),
  );
  console.log(`JSON ${JSON.stringify(row)}`);
  rows.push(row);
  return row;
}

/**
 * The built-in load client (load-client-main.ts): one process, its own CPU and RSS, playing
 * every FQDN of `hosts`; `args` such as --channel.
 */
function startLoadClient(proxyUrl: string, hosts: readonly string[], args: readonly string[]): Proc {
  const main = fileURLToPath(new URL('./load-client-main.js', import.meta.url));
  return new Proc('built-in load client', process.execPath, [main, `--proxy-url=${proxyUrl}`, `--fqdns=${hosts.join(',')}`, ...args]);
}

/** A forwarder-main.js process (a node:net TCP forwarder) to 127.0.0.1:`to`; `read` as its --read. */
async function startForwarder(name: string, to: number, read: 'stream' | 'buffer' = 'stream'): Promise<Proc & { port: number }> {
  const p = new Proc(name, process.execPath, [fileURLToPath(new URL('./forwarder-main.js', import.meta.url)), `--to=${to}`, `--read=${read}`]);
  const m = await p.waitFor(/ready (\d+)/, 60_000);
  return Object.assign(p, { port: Number(m[1]) });
}

/** socat's read size: it reads up to this much per syscall into one buffer. */
const SOCAT_BUFFER_BYTES = 1024 * 1024;

/**
 * A socat TCP forwarder (C; Debian's socat) to 127.0.0.1:`to`. It forks a
 * process per connection: its CPU counts with the listener's (procstat
 * sums a process tree), its RSS does not.
 */
async function startSocat(name: string, to: number): Promise<Proc & { port: number }> {
  const p = new Proc(name, BINARIES.socat, ['-d', '-d', '-b', String(SOCAT_BUFFER_BYTES), 'TCP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork', `TCP:127.0.0.1:${to},nodelay`]);
  const m = await p.waitFor(/listening on AF=2 127\.0\.0\.1:(\d+)/, 10_000);
  return Object.assign(p, { port: Number(m[1]) });
}

/**
 * What carries the scrapes: our proxy and clients, or in their places (one
 * FQDN only) two forwarders that parse nothing, as floors: node:net stream
 * pipes (`tcp-forwarders`); the same with the client's side reading into one
 * reused buffer (`tcp-forwarders-buffer`, see forwarder-main.ts); socat (C).
 */
type RelayKind = 'pushprox' | 'tcp-forwarders' | 'tcp-forwarders-buffer' | 'socat';

/** What carries the scrapes between the load generator and the exporter. */
interface Relay {
  /** In the proxy's place: it faces the scraper. */
  readonly front: Proc;
  /** In the clients' place. */
  readonly back: readonly Proc[];
  /** How the load reaches the exporter through the relay. */
  readonly via: Pick<LoadOptions, 'target' | 'targets' | 'proxyPort'>;
}

/**
 * Starts what carries the load to `targets`, the exporter at `port` on each
 * of `hosts`: a proxy and its clients (see scrapeScenario's `builtIn`) once
 * every FQDN has registered, or two TCP forwarders in a chain (one FQDN).
 */
async function startRelay(
  kind: RelayKind,
  builtIn: 'shared' | 'per-host' | undefined,
  hosts: readonly string[],
  port: number,
  targets: readonly string[],
  clientArgs: readonly string[] = [],
  clientBin?: string,
  clientEnv?: Readonly<Record<string, string>>,
): Promise<Relay> {
  if (kind !== 'pushprox') {
    if (hosts.length !== 1) throw new Error(`relay '${kind}': expected 1 client, got ${hosts.length}`);
    let back: Proc & { port: number };
    let front: Proc & { port: number };
    if (kind === 'socat') {
      back = await startSocat('socat (client side)', port);
      front = await startSocat('socat (proxy side)', back.port);
    } else {
      back = await startForwarder('forwarder (client side)', port, kind === 'tcp-forwarders-buffer' ? 'buffer' : 'stream');
      front = await startForwarder('forwarder (proxy side)', back.port);
    }
    const url = `http://127.0.0.1:${front.port}/metrics`;
    return { front, back: [back], via: { target: url, targets: [url] } };
  }
  const proxy = await startProxyProc();
  const clients =
    builtIn === 'shared'
      ? [startLoadClient(proxy.url, hosts, clientArgs)]
      : builtIn === 'per-host'
        ? hosts.map((h) => startLoadClient(proxy.url, [h], clientArgs))
        : clientBin
          ? hosts.map((h) => new Proc(`pushprox-client ${h}`, process.execPath, [clientBin, `--proxy-url=${proxy.url}`, `--fqdn=${h}`, '--metrics-addr=', ...clientArgs]))
          : hosts.map((h) => startClientProc(proxy.url, h, clientArgs, clientEnv ? { env: clientEnv } : {}));
  await waitRegistered(proxy.url, hosts, { timeoutMs: 60_000 });
  await new Promise((r) => setTimeout(r, 500));
  return { front: proxy, back: clients, via: { target: targets[0]!, targets, proxyPort: proxy.port } };
}

/**
 * One client process per FQDN (with `builtIn: 'shared'`, one built-in load
 * client process playing them all; with `'per-host'`, one per FQDN), one
 * proxy; a load through the proxy and the same load direct, REPS times.
 * With `relay: 'tcp-forwarders'`, two forwarder processes in a chain take
 * the proxy's and the client's places (one FQDN only): the floor any
 * two-process Node relay with stock sockets starts from.
 * With `warmSeconds`, then that much more load (not measured) and REPS more
 * repetitions, reported as a second row: the same programs once V8 has
 * optimised their hot code.
 */
async function scrapeScenario(
  name: string,
  o: {
    size: number;
    gzip?: boolean;
    clients: number;
    builtIn?: 'shared' | 'per-host';
    relay?: RelayKind;
    /**
     * Flags for the client processes: the real ones poll with --no-proxy.channel; the
     * built-in load client polls unless given --channel.
     */
    clientArgs?: readonly string[];
    /** Another checkout's client (its bin/pushprox-client.js) in place of this tree's. */
    clientBin?: string;
    /** Added to the client processes' environment. */
    clientEnv?: Readonly<Record<string, string>>;
    warmSeconds?: number;
    /** Pairs of alternating direct and relayed scrapes per repetition (runPairedLoad), for serial loads. */
    paired?: number;
    load: Omit<LoadOptions, 'target' | 'proxyPort'>;
  },
) {
  if (ONLY && !ONLY.some((x) => name.startsWith(x))) return;
  if (o.relay === 'socat' && missing('socat').length > 0) {
    // Shown, not silently left out: the row needs Debian's socat.
    console.log(`${name}  SKIPPED: no ${BINARIES.socat} (apt-get install socat)`);
    console.log(`JSON ${JSON.stringify({ scenario: name, skipped: `no ${BINARIES.socat}` })}`);
    return;
  }
  const hosts = Array.from({ length: o.clients }, (_, i) => (o.clients === 1 ? '127.0.0.1' : `127.0.1.${10 + i}`));
  const exp = await benchExporter(o.size, o.gzip, hosts);
  const targets = hosts.map((h) => `http://${h}:${exp.port}/metrics`);
  const { front, back: clients, via: viaLoad } = await startRelay(o.relay ?? 'pushprox', o.builtIn, hosts, exp.port, targets, o.clientArgs, o.clientBin, o.clientEnv);
  // Before any load: what (v)'s memory target ("within 20 MB of idle RSS") counts from. Only
  // with one client process: of 50 starting at once, the first is sampled mid-start.
  const idleRss =
    clients.length === 1 ? { proxy_idle_rss_mb: rssOf(front.pid) / MB, client_idle_rss_mb: rssOf(clients[0]!.pid) / MB } : {};
  const measure = async (): Promise<Rep[]> => {
    const reps: Rep[] = [];
    for (let i = 0; i < REPS; i++) {
      // The exporter and the load generator (this process): what the direct run costs too.
      const otherCpuS = (): number => cpuSecondsOf(exp.pid) + selfCpuS();
      const d0 = otherCpuS();
      const direct = await runLoad({ ...o.load, target: targets[0]!, targets });
      const directCpuS = otherCpuS() - d0;
      const cpu0 = { p: cpuSplitOfAll([front]), c: cpuSplitOfAll(clients), o: otherCpuS() };
      const sampler = new PeakSampler({ proxy: front.pid, client: clients[0]!.pid });
      const via = await runLoad({ ...o.load, ...viaLoad });
      const peak = sampler.stop();
      const cpu1 = { p: cpuSplitOfAll([front]), c: cpuSplitOfAll(clients) };
      const viaOtherCpuS = otherCpuS() - cpu0.o;
      // After the CPU readings: the paired scrapes count in no CPU or RSS figure.
      const paired =
        o.paired === undefined
          ? undefined
          : await runPairedLoad({ ...o.load, target: targets[0]! }, { ...o.load, ...viaLoad }, o.paired, o.load.maxSeconds);
      reps.push({
        direct,
        via,
        proxyPeakRssMb: peak['proxy']! / MB,
        clientPeakRssMb: peak['client']! / MB,
        proxyCpuS: cpuTotal(cpu1.p) - cpuTotal(cpu0.p),
        clientCpuS: cpuTotal(cpu1.c) - cpuTotal(cpu0.c),
        proxySysS: cpu1.p.system - cpu0.p.system,
        clientSysS: cpu1.c.system - cpu0.c.system,
        otherCpuS: viaOtherCpuS,
        directCpuS,
        ...(paired && { paired }),
      });
    }
    return reps;
  };
  const extra = { ...idleRss, relay: o.relay ?? 'pushprox', client_args: (o.clientArgs ?? []).join(' '), clients: o.clients, client_processes: clients.length, body_bytes: o.size, gzip: !!o.gzip, concurrency: o.load.concurrency };
  try {
    // Warm-up, not measured.
    await runLoad({ ...o.load, ...viaLoad, maxRequests: Math.min(200, o.load.maxRequests), maxSeconds: 5 });
    const row = report(name, await measure(), extra);
    if (o.warmSeconds === undefined) return row;
    const warmup = await runLoad({ ...o.load, ...viaLoad, maxRequests: 1_000_000, maxSeconds: o.warmSeconds });
    return report(`${name}, after ${o.warmSeconds} s more load`, await measure(), { ...extra, warmup_scrapes: warmup.latenciesMs.length });
  } finally {
    await Promise.all([...clients.map((c) => c.stop()), front.stop(), exp.stop()]);
  }
}

/** The client without its default channel (FEATURE_CHANNEL): polling, upstream's protocol and ours. */
const NO_CHANNEL = ['--no-proxy.channel'] as const;
/** The built-in load client on channels (load-client-channel.ts), as our client by default. */
const BUILT_IN_CHANNEL = ['--channel'] as const;

async function main() {
  const started = performance.now();
  if (argv.has('charts-only')) return;
  console.log(`pushprox-ts benchmarks: node ${process.version}, ${REPS} repetitions per scenario\n`);
  const oneHost = { size: 10 * 1024, clients: 1 };
  const iLoad = { concurrency: 1, maxRequests: 3000, maxSeconds: 10 };
  await scrapeScenario('i: 1 client, serial, 10 KB', { ...oneHost, load: iLoad });
  await scrapeScenario('i: 1 client --no-proxy.channel, serial, 10 KB', { ...oneHost, clientArgs: NO_CHANNEL, load: iLoad });
  const iiLoad = { concurrency: 8, maxRequests: 10_000, maxSeconds: 10 };
  // The client's default channel: one upgraded connection per parallel scrape, frames instead of /poll and /push.
  await scrapeScenario('ii: 1 client, 8 parallel, 10 KB', { ...oneHost, load: iiLoad });
  await scrapeScenario('ii: 1 client --no-proxy.channel, 8 parallel, 10 KB', { ...oneHost, clientArgs: NO_CHANNEL, load: iiLoad });
  // The same load with the built-in load client (node:http, upstream protocol, no logging,
  // metrics or limits) in the client's place: what a minimal Node client costs.
  await scrapeScenario('ii: built-in load client (minimal Node client), 8 parallel, 10 KB', { ...oneHost, builtIn: 'shared', load: iiLoad });
  await scrapeScenario('ii: built-in load client --channel (minimal Node client), 8 parallel, 10 KB', {
    ...oneHost,
    builtIn: 'shared',
    clientArgs: BUILT_IN_CHANNEL,
    load: iiLoad,
  });
  // The same load through two TCP forwarders in the proxy's and the client's places: what
  // the loopback sockets of a two-process Node relay cost without any HTTP work.
  await scrapeScenario('ii: two node:net TCP forwarders (floor), 8 parallel, 10 KB', { ...oneHost, relay: 'tcp-forwarders', load: iiLoad });
  // The curves of docs/bench/*.svg: one host, channel and polling, more points than (i), (ii) and (v).
  for (const concurrency of [2, 4, 16, 32]) {
    const load = { concurrency, maxRequests: 5000, maxSeconds: 5 };
    await scrapeScenario(`sweep: 1 client, ${concurrency} parallel, 10 KB`, { ...oneHost, load });
    await scrapeScenario(`sweep: 1 client --no-proxy.channel, ${concurrency} parallel, 10 KB`, { ...oneHost, clientArgs: NO_CHANNEL, load });
  }
  for (const [label, size] of [['1 KB', 1024], ['100 KB', 100 * 1024], ['1 MB', MB]] as const) {
    const load = { concurrency: 1, maxRequests: 2000, maxSeconds: 5 };
    await scrapeScenario(`sweep: 1 client, serial, ${label}`, { size, clients: 1, load });
    await scrapeScenario(`sweep: 1 client --no-proxy.channel, serial, ${label}`, { size, clients: 1, clientArgs: NO_CHANNEL, load });
  }
  const fiftyHosts = { size: 10 * 1024, clients: 50, load: { concurrency: 16, maxRequests: 10_000, maxSeconds: 10 } };
  // 50 Node processes on 2 cores each see ~1/50 of the scrapes: V8 optimises their hot code
  // only after minutes of this load, so the row is repeated after 90 s more of it.
  await scrapeScenario('iii: 50 clients, 16 parallel, 10 KB', { ...fiftyHosts, warmSeconds: 90 });
  await scrapeScenario('iii: 50 clients --no-proxy.channel, 16 parallel, 10 KB', { ...fiftyHosts, clientArgs: NO_CHANNEL, warmSeconds: 90 });
  // What 50 Node processes reach on this machine however little each does: the same load
  // with 50 built-in load clients (node:http, upstream protocol, no logging or metrics),
  // one FQDN each, as the floor for the row above.
  await scrapeScenario('iii: 50 minimal Node clients (built-in load client per FQDN), 16 parallel, 10 KB', {
    ...fiftyHosts,
    builtIn: 'per-host',
    warmSeconds: 90,
  });
  // The same floor for the channel row: 50 built-in load clients holding channels.
  await scrapeScenario('iii: 50 minimal Node clients --channel (built-in load client per FQDN), 16 parallel, 10 KB', {
    ...fiftyHosts,
    builtIn: 'per-host',
    clientArgs: BUILT_IN_CHANNEL,
    warmSeconds: 90,
  });
  // Issue #5: large (iii) with a built-in load client, so the client side is one warm process.
  // The built-in load client polls, as upstream's clients do; with --channel it holds channels,
  // as our clients do by default.
  await scrapeScenario('iii: 50 clients (built-in load client), 16 parallel, 10 KB', { ...fiftyHosts, builtIn: 'shared' });
  await scrapeScenario('iii: 50 clients (built-in load client --channel), 16 parallel, 10 KB', {
    ...fiftyHosts,
    builtIn: 'shared',
    clientArgs: BUILT_IN_CHANNEL,
  });
  for (const [label, size] of [['10 MB', 10 * MB], ['100 MB', 100 * MB]] as const) {
    const load = { concurrency: 1, maxRequests: size > 50 * MB ? 5 : 20, maxSeconds: 60, timeoutSecs: 60 };
    // As many pairs of alternating direct and relayed scrapes: the steadier time ratio.
    const paired = load.maxRequests;
    for (const gzip of [false, true]) {
      await scrapeScenario(`v: ${label} ${gzip ? 'gzip' : 'plain'}`, { size, gzip, clients: 1, paired, load: { ...load, gzip } });
    }
    await scrapeScenario(`v: ${label} plain --no-proxy.channel`, { size, clients: 1, clientArgs: NO_CHANNEL, paired, load });
    // The floor for the time ratio: the same bytes through two TCP forwarders (no HTTP).
    await scrapeScenario(`v: ${label} plain, two node:net TCP forwarders (floor)`, { size, clients: 1, relay: 'tcp-forwarders', paired, load });
    // What a client reading the exporter into one reused buffer could save (the proxy's
    // sockets are accepted by a server: Node cannot read those into a caller's buffer) ...
    await scrapeScenario(`v: ${label} plain, node:net forwarders, the client's side reading into a reused buffer (floor)`, {
      size,
      clients: 1,
      relay: 'tcp-forwarders-buffer',
      paired,
      load,
    });
    // ... and what a C relay of the same shape takes on this machine.
    await scrapeScenario(`v: ${label} plain, two socat forwarders (C, 1 MiB reads)`, { size, clients: 1, relay: 'socat', paired, load });
  }
  if (!ONLY || ONLY.some((x) => x.startsWith('iv'))) {
    // Channels: what our clients hold by default (the proxy pings each one silent for 30 s).
    const keep = (row: Record<string, unknown>) => void rows.push(row as Row);
    keep(await idleClients(1000, 40, [], 0, 'channel'));
    keep(await idleClients(10_000, 40, [], 1000, 'channel'));
    // Polls: upstream's clients, and ours with --no-proxy.channel.
    keep(await idleClients(1000));
    keep(await idleClients(10_000, 40, [], 1000));
    // With the idle reply a load balancer needs: one re-poll per client per 30 s.
    keep(await idleClients(10_000, 40, ['--poll.idle-timeout=30s'], 1000));
    keep(await idleRealClients(40));
    keep(await idleRealClients(40, 20, NO_CHANNEL));
  }
  if (!ONLY || ONLY.some((x) => x.startsWith('status'))) {
    // Issue #27: the status page's history memory per client and its API's latency at 10,000 clients.
    rows.push((await statusScenario()) as Row);
  }
  if (!ONLY || ONLY.some((x) => x.startsWith('modules'))) {
    // Issue #24: a module scrape against a plain one, and what streaming verification costs.
    for (const row of await modulesScenario(REPS)) rows.push(row as Row);
  }
  if (!ONLY || ONLY.some((x) => x.startsWith('footprint'))) {
    // Issue #28: --footprint-idle=S (default 30), --footprint-cpu=S (60), --footprint-runs=N (5),
    // --footprint-instances=N (3);
    // --footprint-compare=DIR measures a second built checkout (the tree before a change) alongside;
    // --footprint-compare-executable=FILE another single executable of the client.
    const compareRoot = argv.get('footprint-compare');
    const compareExecutable = argv.get('footprint-compare-executable');
    // --only=footprint runs all of it; --only=footprint: (ii) or --only=footprint: (iii) only those rows.
    const idleRows = !ONLY || ONLY.some((x) => 'footprint: idle'.startsWith(x));
    if (idleRows) {
      rows.push(...(await footprintBreakdown(ROOT, compareRoot, Number(argv.get('footprint-runs') ?? 5))));
      rows.push(
        ...(await footprintScenario({
          root: ROOT,
          idleSeconds: Number(argv.get('footprint-idle') ?? 30),
          cpuSeconds: Number(argv.get('footprint-cpu') ?? 60),
          runs: Number(argv.get('footprint-runs') ?? 5),
          instances: Number(argv.get('footprint-instances') ?? 3),
          ...(compareRoot && { compareRoot }),
          ...(compareExecutable && { compareExecutable }),
        })),
      );
    }
    // Peak RSS under the (ii) load, with --metrics-addr= as in (ii).
    await scrapeScenario('footprint: (ii) peak, ours, channel', { ...oneHost, load: iiLoad });
    await scrapeScenario('footprint: (ii) peak, ours, polling', { ...oneHost, clientArgs: NO_CHANNEL, load: iiLoad });
    await scrapeScenario("footprint: (ii) peak, ours, channel, the units' environment", { ...oneHost, clientEnv: UNITS_ENV, load: iiLoad });
    if (compareRoot) {
      const clientBin = `${compareRoot}/packages/client/bin/pushprox-client.js`;
      await scrapeScenario('footprint: (ii) peak, before: ours, channel', { ...oneHost, clientBin, load: iiLoad });
      await scrapeScenario('footprint: (ii) peak, before: ours, polling', { ...oneHost, clientBin, clientArgs: NO_CHANNEL, load: iiLoad });
    }
    // (iii) cold: 50 real client processes, measured as soon as they have registered (no warm-up
    // beyond the scenario's own 200 scrapes); with --footprint-compare, the tree before alongside.
    await scrapeScenario('footprint: (iii) cold, 50 clients, 16 parallel, 10 KB', fiftyHosts);
    if (compareRoot) {
      const clientBin = `${compareRoot}/packages/client/bin/pushprox-client.js`;
      await scrapeScenario('footprint: (iii) cold, before: 50 clients, 16 parallel, 10 KB', { ...fiftyHosts, clientBin });
    }
  }
  // Issue #25: --only=cluster runs all three, --only=cluster-hop, cluster-many or cluster-idle one.
  if (!ONLY || ONLY.some((x) => 'cluster-hop'.startsWith(x))) {
    // The NATS hop between two proxies, against a local scrape in the same run.
    rows.push((await clusterScenario(REPS)) as Row);
  }
  if (!ONLY || ONLY.some((x) => 'cluster-many'.startsWith(x))) {
    // (iii) over three proxies against one, same run.
    rows.push((await clusterManyScenario(REPS)) as Row);
  }
  if (!ONLY || ONLY.some((x) => 'cluster-idle'.startsWith(x))) {
    // 30,000 idle clients, 10,000 at each of three proxies.
    rows.push((await clusterIdleScenario(Number(argv.get('cluster-idle-per-proxy') ?? 10_000))) as Row);
  }
  // Issue #30: scrapes at Prometheus' rates (2 s and 15 s intervals), where every process
  // idles between scrapes; the 15 s rows are short (3 scrapes per target, enough for a median).
  const upstreamDir = argv.get('upstream') ?? process.env['PUSHPROX_UPSTREAM_DIR'];
  for (const [targets, intervalMs, seconds] of [[20, 2_000, 60], [200, 2_000, 60], [20, 15_000, 45], [200, 15_000, 45]] as const) {
    const name = `rate: ${targets} targets every ${intervalMs / 1000} s`;
    if (ONLY && !ONLY.some((x) => name.startsWith(x))) continue;
    for (const row of await realRateScenario({ targets, intervalMs, seconds, upstreamDir })) rows.push(row as Row);
  }
  // Issue #30: 10,000 clients coming back to a restarted proxy (SIGTERM handover, and kill -9 back after 5 s).
  for (const restart of ['sigterm', 'kill'] as const) {
    const name = `herd: 10000 clients, proxy ${restart === 'sigterm' ? 'SIGTERM' : 'kill -9'} and restart`;
    if (ONLY && !ONLY.some((x) => name.startsWith(x))) continue;
    rows.push((await herdScenario({ clients: 10_000, restart, name })) as Row);
  }
  if (!ONLY || ONLY.some((x) => x.startsWith('auth-flood'))) {
    // Issue #22: a legitimate scrape during a wrong-password flood; with and without the per-source limit.
    await authFloodScenario();
    await authFloodScenario(['--web.max-auth-failures=0']);
  }
  // One repetition whatever --reps says: 100,000 scrapes take a minute or more.
  // --heap-snapshots=DIR: diagnostic heap snapshots of proxy and client (see LeakOptions).
  const heapSnapshotDir = argv.get('heap-snapshots');
  if (!ONLY || ONLY.some((x) => x.startsWith('leak'))) {
    await leakScenario(heapSnapshotDir ? { heapSnapshotDir } : {});
    await leakScenario({ clientArgs: NO_CHANNEL, ...(heapSnapshotDir && { heapSnapshotDir }) });
  }
  // Issue #30: scrape durations under Debian's Prometheus, ours and upstream's (with --upstream)
  // side by side; only when asked for by name (--only=prom-rate), as it runs --prom-rate-minutes (30).
  if (ONLY?.some((x) => x.startsWith('prom-rate'))) {
    rows.push((await promRateScenario({ minutes: Number(argv.get('prom-rate-minutes') ?? 30), upstreamDir })) as Row);
  }
  // Issue #30: client RSS over a long run at Prometheus' rate; only when asked for by name
  // (--only=rss-soak), as it runs --rss-soak-minutes (120).
  if (ONLY?.some((x) => x.startsWith('rss-soak'))) {
    const minutes = Number(argv.get('rss-soak-minutes') ?? 120);
    // --rss-soak-env=units: the clients run with the systemd units' malloc settings (UNITS_ENV).
    const units = argv.get('rss-soak-env') === 'units';
    // --rss-soak-polling=N: N of the 20 clients poll, the rest use channels (default 10).
    const polling = argv.has('rss-soak-polling') ? Number(argv.get('rss-soak-polling')) : undefined;
    rows.push(
      (await rssSoakScenario({
        minutes,
        clientEnv: units ? UNITS_ENV : undefined,
        ...(polling !== undefined && { pollingClients: polling }),
        chartFile: `${CHARTS_DIR}/client-rss-soak${units ? '-units' : ''}${polling !== undefined ? `-polling-${polling}` : ''}.svg`,
      })) as Row,
    );
  }
  console.log(`\ndone in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

/**
 * Merges this run's rows into RESULTS_FILE and redraws the charts from all
 * saved rows; also after a failed run, whose finished rows are measurements too.
 */
function saveAndDraw(): void {
  const results = rows.length > 0 ? mergeResults(RESULTS_FILE, rows) : readResults(RESULTS_FILE);
  for (const file of writeCharts(results, CHARTS_DIR)) console.log(`chart ${file}`);
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    try {
      saveAndDraw();
    } catch (err: unknown) {
      console.error(err);
      process.exitCode = 1;
    }
    return killAll();
  });
stopChildrenOnSignals(saveAndDraw);
