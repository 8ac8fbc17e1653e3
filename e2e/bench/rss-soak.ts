import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Prometheus } from '../src/prometheus.js';
import { type Proc, startClientProc, startProxyProc } from '../src/procs.js';
import { waitRegistered } from '../src/proxy-api.js';
import { benchExporter } from './bench-exporter.js';
import { anonSplitOf, privateRssOf, rssOf, type AnonSplit } from './procstat.js';
import { median, summarize } from './stats.js';
import { renderChart, type Series } from './svg-chart.js';

/**
 * Client memory over a long run at a real scrape rate (issue #30): Debian's
 * Prometheus scrapes `targets` real client processes through one proxy every
 * 2 s (timeout 1.5 s), `pollingClients` of them polling (default half) and
 * the rest on channels, for `minutes`. Every process's RSS and private memory
 * (RssAnon, and where it is: anonSplitOf) is read from /proc once a
 * `sampleSeconds`. Bounded by `minutes`. Prometheus' scrape durations are
 * given for the whole run and for its second half, once the code has warmed.
 *
 * The verdict compares, per client kind, the median RSS of the last tenth of
 * the run with the median of the tenth that ends at a third of the run (the
 * heap has settled by then): a leak grows with the scrapes, so it shows as a
 * ratio above 1 that the slope over the second half confirms.
 */

export interface RssSoakOptions {
  readonly minutes: number;
  readonly targets?: number;
  /** How many of the clients poll (`--no-proxy.channel`); the others use channels, the default. Default half. */
  readonly pollingClients?: number;
  readonly sampleSeconds?: number;
  /** Added to the clients' environment (e.g. the systemd units' malloc settings). Default none. */
  readonly clientEnv?: Readonly<Record<string, string>> | undefined;
  /** Where to write the chart of median RSS over time (an SVG), if anywhere. */
  readonly chartFile?: string | undefined;
}

interface Sample {
  readonly min: number;
  readonly rss: Readonly<Record<string, number>>;
  readonly priv: Readonly<Record<string, number>>;
  readonly anon: Readonly<Record<string, AnonSplit>>;
}

const MB = 1024 * 1024;
/** The places of private memory anonSplitOf tells apart, in the order the log prints them. */
const ANON_PARTS = ['brk', 'arena', 'v8', 'code', 'other'] as const;

/** Least-squares slope of y over x. */
function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  const num = points.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0);
  const den = points.reduce((s, p) => s + (p[0] - mx) ** 2, 0);
  return den === 0 ? NaN : num / den;
}

export async function rssSoakScenario(o: RssSoakOptions): Promise<Record<string, unknown>> {
  const n = o.targets ?? 20;
  const every = (o.sampleSeconds ?? 60) * 1000;
  const hosts = Array.from({ length: n }, (_, i) => `127.0.1.${10 + i}`);
  const polling = o.pollingClients ?? Math.floor(n / 2);
  if (!Number.isInteger(polling) || polling < 0 || polling > n) throw new RangeError(`pollingClients: expected an integer from 0 to ${n}, got ${polling}`);
  // Every other client polls, up to `polling` of them.
  const kindOf = (i: number): 'channel' | 'polling' => (i % 2 === 1 && (i - 1) / 2 < polling) || i >= 2 * (n - polling) ? 'polling' : 'channel';
  const exp = await benchExporter(10 * 1024, false, hosts);
  const proxy = await startProxyProc();
  const clients: Proc[] = hosts.map((h, i) =>
    startClientProc(proxy.url, h, kindOf(i) === 'polling' ? ['--no-proxy.channel'] : [], o.clientEnv ? { env: o.clientEnv } : {}),
  );
  let prom: Prometheus | undefined;
  const samples: Sample[] = [];
  try {
    await waitRegistered(proxy.url, hosts, { timeoutMs: 60_000 });
    prom = await Prometheus.start(
      [
        'global: { scrape_interval: 2s, scrape_timeout: 1500ms }',
        'scrape_configs:',
        '  - job_name: soak',
        `    proxy_url: ${proxy.url}`,
        `    static_configs: [{ targets: [${hosts.map((h) => `'${h}:${exp.port}'`).join(', ')}] }]`,
      ].join('\n'),
    );
    const start = performance.now();
    const end = start + o.minutes * 60_000;
    for (;;) {
      const min = (performance.now() - start) / 60_000;
      const rss: Record<string, number> = {};
      const priv: Record<string, number> = {};
      const anon: Record<string, AnonSplit> = {};
      for (const [name, p] of [['proxy', proxy] as const, ...clients.map((c, i) => [`${kindOf(i)} ${hosts[i]}`, c] as const)]) {
        if (!p.running) throw new Error(`${name} exited during the soak:\n${p.output.slice(-2000)}`);
        rss[name] = rssOf(p.pid) / MB;
        priv[name] = privateRssOf(p.pid) / MB;
        anon[name] = anonSplitOf(p.pid);
      }
      samples.push({ min, rss, priv, anon });
      // Median over the processes of one kind of `value(name)`.
      const med = (kind: string, value: (name: string) => number) => median(Object.keys(rss).filter((k) => k.startsWith(kind)).map(value));
      const line = (['channel', 'polling'] as const)
        .filter((kind) => Object.keys(rss).some((k) => k.startsWith(kind)))
        .map(
          (kind) =>
            `${kind} RSS ${med(kind, (k) => rss[k]!).toFixed(1)} MB, private ${med(kind, (k) => priv[k]!).toFixed(1)} ` +
            `(main arena/other arenas/V8 heap/code/rest ${ANON_PARTS.map((part) => (med(kind, (k) => anon[k]![part]) / MB).toFixed(1)).join('/')})`,
        );
      console.log(`rss-soak ${min.toFixed(1)} min: clients ${line.join('; ')}; proxy ${rss['proxy']!.toFixed(1)} MB`);
      if (performance.now() + every > end) break;
      await new Promise((r) => setTimeout(r, every));
    }
    const runMin = (performance.now() - start) / 60_000;
    const window = `${Math.max(1, Math.floor(runMin))}m`;
    const durations = (await prom.rangeValues(`scrape_duration_seconds{job="soak"}[${window}]`)).map((s) => s * 1000);
    // The second half alone: the processes' code has had half the run to warm up.
    const halfWindow = `${Math.max(1, Math.floor(runMin / 2))}m`;
    const lateDurations = (await prom.rangeValues(`scrape_duration_seconds{job="soak"}[${halfWindow}]`)).map((s) => s * 1000);
    const late = summarize(lateDurations);
    const ups = await prom.rangeValues(`up{job="soak"}[${window}]`);
    const d = summarize(durations);
    const tenth = Math.max(1, Math.round(samples.length / 10));
    const third = Math.max(tenth, Math.round(samples.length / 3));
    const kinds = (['channel', 'polling', 'proxy'] as const).filter((kind) => Object.keys(samples[0]!.rss).some((k) => k.startsWith(kind)));
    const per = Object.fromEntries(
      kinds.map((kind) => {
        const keys = Object.keys(samples[0]!.rss).filter((k) => k.startsWith(kind));
        const series = (m: 'rss' | 'priv') => samples.map((s) => median(keys.map((k) => s[m][k]!)));
        const rss = series('rss');
        const priv = series('priv');
        const part = (which: keyof AnonSplit) => samples.map((s) => median(keys.map((k) => s.anon[k]![which] / MB)));
        const anonAt = (pick: (xs: number[]) => number) =>
          Object.fromEntries(ANON_PARTS.map((which) => [which, pick(part(which))]));
        const settled = median(rss.slice(third - tenth, third));
        const last = median(rss.slice(-tenth));
        const half = samples.map((s, i) => [s.min / 60, rss[i]!] as const).slice(Math.floor(samples.length / 2));
        return [
          kind,
          {
            first_mb: rss[0],
            settled_mb: settled,
            last_mb: last,
            ratio: last / settled,
            second_half_slope_mb_per_h: slope(half),
            private_settled_mb: median(priv.slice(third - tenth, third)),
            private_last_mb: median(priv.slice(-tenth)),
            max_mb: Math.max(...rss),
            // Private memory by place (anonSplitOf), settled and last as for RSS.
            anon_settled_mb: anonAt((xs) => median(xs.slice(third - tenth, third))),
            anon_last_mb: anonAt((xs) => median(xs.slice(-tenth))),
          },
        ];
      }),
    );
    const row = {
      scenario: `rss-soak: ${n} clients (${n - polling} on channels)${o.clientEnv ? " (the units' environment)" : ''}, Prometheus every 2 s, ${o.minutes} min`,
      minutes: runMin,
      samples: samples.length,
      scrapes: durations.length,
      failed_scrapes: ups.filter((u) => u === 0).length,
      scrape_duration_ms: { p50: d.p50, p90: d.p90, p99: d.p99, max: d.max },
      scrape_duration_second_half_ms: { p50: late.p50, p90: late.p90, p99: late.p99, max: late.max },
      ...per,
    };
    console.log(`JSON ${JSON.stringify(row)}`);
    if (o.chartFile) {
      const series: Series[] = kinds.map((kind) => {
        const keys = Object.keys(samples[0]!.rss).filter((k) => k.startsWith(kind));
        return { name: kind === 'proxy' ? 'proxy' : `clients on ${kind === 'channel' ? 'channels' : 'polls'} (median)`, points: samples.map((s) => ({ x: s.min, y: median(keys.map((k) => s.rss[k]!)) })) };
      });
      writeFileSync(
        o.chartFile,
        renderChart({
          title: 'RSS over a soak at a real scrape rate',
          note: `${n} client processes (half channel, half polling), one proxy, Debian's Prometheus every 2 s`,
          x: { title: 'minutes' },
          y: { title: 'RSS (MB)' },
          series,
        }),
      );
    }
    return row;
  } finally {
    await prom?.stop();
    await Promise.all([proxy.stop(), ...clients.map((c) => c.stop()), exp.stop()]);
  }
}
