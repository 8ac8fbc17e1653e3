import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makePki, type Pki } from '../src/pki.js';
import { metricValue, waitRegistered } from '../src/proxy-api.js';
import { freePort } from '../src/ports.js';
import { CLIENT_BIN, Proc, startProxyProc, type ProxyProc } from '../src/procs.js';
import type { Row } from './charts.js';
import { firstRequest, shortRun, type Launch, type ListenerTls } from './footprint-start.js';
import { cpuSecondsOf, privateRssOf, rssOf } from './procstat.js';
import { median } from './stats.js';

/**
 * Issue #28's footprint scenario: idle RSS and private memory (RssAnon), V8
 * heap, start to first request, `--help`, and idle CPU of a bare `node`, our
 * client (channel, polling, mTLS), the single executable when
 * release/pushprox-client exists, upstream's client when
 * PUSHPROX_UPSTREAM_CLIENT names its binary, and, with `compareRoot`, the
 * client of another built checkout (the tree before a change) in the same run.
 */

/** The environment variable that names an upstream pushprox client binary (Go, v0.2.0). */
export const UPSTREAM_CLIENT_ENV = 'PUSHPROX_UPSTREAM_CLIENT';

export interface FootprintOptions {
  /** How long every subject idles before its memory is read. Default 30 s. */
  readonly idleSeconds?: number;
  /** The idle CPU window after that. Default 60 s. */
  readonly cpuSeconds?: number;
  /** Runs of start-up and `--help`, of which the median is reported. Default 5. */
  readonly runs?: number;
  /**
   * Processes of each subject idling at once, of which the median is reported (with the
   * lowest and highest): a Node process's private memory is bimodal across starts. Default 3.
   */
  readonly instances?: number;
  /** A checkout (built, with node_modules) whose client is measured too, as `before: ...`. */
  readonly compareRoot?: string;
  /** Another single executable of the client, measured too as `before: single executable`. Default none. */
  readonly compareExecutable?: string;
  /** Where the repository is, for release/pushprox-client. */
  readonly root: string;
}

/** The environment the systemd units and the Docker image give the programs (examples/systemd, Dockerfile). */
export const UNITS_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' };

/** A bare node that only waits; on SIGUSR2 it prints its V8 heap, as our client's /metrics does. */
const BARE_NODE =
  "setInterval(() => {}, 1 << 30); process.on('SIGUSR2', () => { const m = process.memoryUsage(); process.stdout.write(`heap ${m.heapUsed} ${m.heapTotal}\\n`); });";

interface Subject {
  readonly name: string;
  /** How it is started for the idle window; undefined metricsPort for bare node. */
  readonly launch: Launch;
  /** `--help` (or for bare node, `-e 0`). */
  readonly help: readonly string[];
  /** Talks to a proxy: its start-up is timed to the first request, and it idles registered. */
  readonly client: boolean;
  readonly tls?: boolean;
  /** Serves nodejs_heap_size_* on its --metrics-addr. */
  readonly nodeMetrics: boolean;
}

const MB = 1024 * 1024;
const mb = (bytes: number): number => Number((bytes / MB).toFixed(1));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function subjects(o: FootprintOptions, pki: Pki): Subject[] {
  const tlsArgs = [`--tls.cacert=${pki.ca}`, `--tls.cert=${pki.client('footprint').cert}`, `--tls.key=${pki.client('footprint').key}`];
  /** Our client as `cmd prefix...`; `--metrics-addr` is set per start (see idle()). */
  const ours = (label: string, cmd: string, prefix: readonly string[]): Subject[] => [
    { name: `${label}, channel`, launch: { cmd, args: (u) => [...prefix, `--proxy-url=${u}`] }, help: [...prefix, '--help'], client: true, nodeMetrics: true },
    { name: `${label}, polling`, launch: { cmd, args: (u) => [...prefix, `--proxy-url=${u}`, '--no-proxy.channel'] }, help: [...prefix, '--help'], client: true, nodeMetrics: true },
    { name: `${label}, channel, mTLS`, launch: { cmd, args: (u) => [...prefix, `--proxy-url=${u}`, ...tlsArgs] }, help: [...prefix, '--help'], client: true, tls: true, nodeMetrics: true },
  ];
  const out: Subject[] = [
    { name: 'bare node', launch: { cmd: process.execPath, args: () => ['-e', BARE_NODE] }, help: ['-e', '0'], client: false, nodeMetrics: false },
    ...ours('ours', process.execPath, [CLIENT_BIN]),
    { ...ours('ours', process.execPath, [CLIENT_BIN])[0]!, name: "ours, channel, the units' environment", launch: { cmd: process.execPath, args: (u) => [CLIENT_BIN, `--proxy-url=${u}`], env: UNITS_ENV } },
  ];
  if (o.compareRoot) out.push(...ours('before: ours', process.execPath, [path.join(o.compareRoot, 'packages/client/bin/pushprox-client.js')]));
  const sea = path.join(o.root, 'release', 'pushprox-client');
  if (existsSync(sea)) out.push(ours('single executable', sea, [])[0]!);
  if (o.compareExecutable) out.push(ours('before: single executable', o.compareExecutable, [])[0]!);
  const upstream = process.env[UPSTREAM_CLIENT_ENV];
  if (upstream) {
    out.push({ name: 'upstream (Go)', launch: { cmd: upstream, args: (u) => [`--proxy-url=${u}`] }, help: ['--help'], client: true, nodeMetrics: false });
  }
  return out;
}

/** The proxies the idle clients register with: plain http, and https requiring a client certificate. */
async function startProxies(pki: Pki): Promise<{ plain: ProxyProc; mtls: ProxyProc & { httpsUrl: string } }> {
  const web = path.join(pki.dir, 'web.yml');
  writeFileSync(web, `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.serverKey}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${pki.ca}\n`);
  const plain = await startProxyProc();
  const mtls = await startProxyProc([`--web.config.file=${web}`]);
  return { plain, mtls: Object.assign(mtls, { httpsUrl: `https://127.0.0.1:${mtls.port}` }) };
}

/** V8 heap used and total of an idle subject, in bytes. */
async function heapOf(s: Subject, p: Proc, metricsPort: number): Promise<[number, number]> {
  if (s.nodeMetrics) {
    const url = `http://127.0.0.1:${metricsPort}`;
    return [await metricValue(url, 'nodejs_heap_size_used_bytes'), await metricValue(url, 'nodejs_heap_size_total_bytes')];
  }
  if (s.client) return [NaN, NaN];
  const before = p.output.length;
  p.signal('SIGUSR2');
  const m = /heap (\d+) (\d+)/.exec((await p.waitFor(/heap \d+ \d+\n/, 5000)).input.slice(before)) ?? [];
  return [Number(m[1]), Number(m[2])];
}

export async function footprintScenario(o: FootprintOptions): Promise<Row[]> {
  const idleSeconds = o.idleSeconds ?? 30;
  const cpuSeconds = o.cpuSeconds ?? 60;
  const runs = o.runs ?? 5;
  const instances = o.instances ?? 3;
  const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-footprint-'));
  const procs: Proc[] = [];
  let proxies: Awaited<ReturnType<typeof startProxies>> | undefined;
  try {
    const pki = await makePki(path.join(dir, 'pki'), ['footprint']);
    const listenerTls: ListenerTls = { cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey), ca: readFileSync(pki.ca) };
    const all = subjects(o, pki);
    // Start-up first, one process at a time with nothing else of the bench running, the
    // subjects in turn in every round so that a busy phase of the machine hits them all alike.
    const timings = new Map(all.map((s) => [s.name, { startMs: [] as number[], firstLine: '', helpMs: [] as number[], helpPeak: [] as number[] }]));
    for (let i = 0; i < runs; i++) {
      for (const s of all) {
        const t = timings.get(s.name)!;
        const h = await shortRun(s.launch.cmd, s.help);
        t.helpMs.push(h.ms);
        t.helpPeak.push(h.peakRss);
        if (!s.client) continue;
        // Default flags serve metrics: on an ephemeral loopback port here.
        const args = (u: string) => [...s.launch.args(u), '--fqdn=footprint', '--metrics-addr=127.0.0.1:0'];
        const f = await firstRequest({ ...s.launch, args }, s.tls ? listenerTls : undefined);
        t.startMs.push(f.ms);
        t.firstLine = f.line;
      }
    }
    // Then every subject idles at once, registered with a proxy, for idleSeconds.
    proxies = await startProxies(pki);
    const started = await Promise.all(
      all.flatMap((s, i) =>
        Array.from({ length: instances }, async (_, k) => {
          const port = await freePort();
          const fqdn = `footprint-${i}-${k}`;
          const url = s.tls ? proxies!.mtls.httpsUrl : proxies!.plain.url;
          const metrics = s.client ? [`--fqdn=${fqdn}`, `--metrics-addr=127.0.0.1:${port}`] : [];
          const p = new Proc(`${s.name} #${k}`, s.launch.cmd, [...s.launch.args(url), ...metrics], s.launch.env ? { env: s.launch.env } : {});
          procs.push(p);
          return { s, p, port, fqdn };
        }),
      ),
    );
    const t0 = Date.now();
    await waitRegistered(proxies.plain.url, started.filter((x) => x.s.client && !x.s.tls).map((x) => x.fqdn), { timeoutMs: 60_000 });
    /** RSS and private memory of each process each second, for the chart. */
    const timeline = new Map(started.map((x) => [x.p, [] as Array<[number, number, number]>]));
    while (Date.now() - t0 < idleSeconds * 1000) {
      for (const { p } of started) timeline.get(p)!.push([Math.round((Date.now() - t0) / 100) / 10, mb(rssOf(p.pid)), mb(privateRssOf(p.pid))]);
      await sleep(1000);
    }
    const idle = new Map(started.map(({ p }) => [p, { rss: rssOf(p.pid), anon: privateRssOf(p.pid), cpu0: cpuSecondsOf(p.pid) }]));
    await sleep(cpuSeconds * 1000);
    const rows: Row[] = [];
    for (const s of all) {
      const mine = started.filter((x) => x.s === s);
      const readings: Array<{ p: Proc; rss: number; anon: number; cpu: number; heapUsed: number; heapTotal: number }> = [];
      for (const { p, port } of mine) {
        if (!p.running) throw new Error(`${p.name} exited during the idle window:\n${p.output}`);
        const i = idle.get(p)!;
        const [heapUsed, heapTotal] = await heapOf(s, p, port);
        readings.push({ p, rss: i.rss, anon: i.anon, cpu: cpuSecondsOf(p.pid) - i.cpu0, heapUsed, heapTotal });
      }
      const med = (k: 'rss' | 'anon' | 'cpu' | 'heapUsed' | 'heapTotal') => median(readings.map((r) => r[k]));
      const anons = readings.map((r) => r.anon);
      // The chart's line: the process whose private memory is the median.
      const middle = [...readings].sort((a, b) => a.anon - b.anon)[Math.floor(readings.length / 2)]!;
      const t = timings.get(s.name)!;
      const row: Row = {
        scenario: `footprint: ${s.name}`,
        idle_s: idleSeconds,
        instances,
        idle_rss_mb: mb(med('rss')),
        idle_private_mb: mb(med('anon')),
        idle_private_mb_min: mb(Math.min(...anons)),
        idle_private_mb_max: mb(Math.max(...anons)),
        heap_used_mb: mb(med('heapUsed')),
        heap_total_mb: mb(med('heapTotal')),
        start_to_first_request_ms: s.client ? Math.round(median(t.startMs)) : null,
        first_request: t.firstLine || null,
        help_s: Number((median(t.helpMs) / 1000).toFixed(3)),
        help_peak_rss_mb: mb(median(t.helpPeak)),
        idle_cpu_s: Number(med('cpu').toFixed(2)),
        cpu_window_s: cpuSeconds,
        runs,
        rss_timeline: timeline.get(middle.p),
      };
      const f = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? String(v) : '-');
      console.log(
        `${row.scenario.padEnd(48)} idle RSS ${f(row['idle_rss_mb'])} MB, private ${f(row['idle_private_mb'])} MB (${f(row['idle_private_mb_min'])}-${f(row['idle_private_mb_max'])}), ` +
          `heap ${f(row['heap_used_mb'])}/${f(row['heap_total_mb'])} MB, start ${f(row['start_to_first_request_ms'])} ms (${row['first_request'] ?? '-'}), ` +
          `--help ${f(row['help_s'])} s / ${f(row['help_peak_rss_mb'])} MB, CPU ${f(row['idle_cpu_s'])} s in ${cpuSeconds} s`,
      );
      const { rss_timeline: _, ...printed } = row;
      console.log(`JSON ${JSON.stringify(printed)}`);
      rows.push(row);
    }
    return rows;
  } finally {
    await Promise.all([...procs.map((p) => p.stop('SIGKILL')), proxies?.plain.stop(), proxies?.mtls.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}
