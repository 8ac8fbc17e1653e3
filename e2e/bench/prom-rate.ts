import { existsSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Prometheus } from '../src/prometheus.js';
import { benchExporter } from './bench-exporter.js';
import { cpuSplitOf, cpuSplitOfAll, cpuTotal } from './procstat.js';
import { ourStack, upstreamStack, type Stack } from './real-rate.js';
import { summarize } from './stats.js';

/**
 * Issue #30's latency target as the issue measured it: one Debian Prometheus
 * scrapes `targets` targets every 2 s (timeout 1.5 s) through our proxy and
 * our client processes (job `ours`) and, when upstream's binaries are given
 * (`upstreamDir` with `pushprox-proxy` and `pushprox-client`), the same
 * targets through upstream's proxy and clients (job `upstream`), side by side
 * for `minutes`, so both see the same machine load. The figures are
 * Prometheus' own `scrape_duration_seconds`, over the whole run and over its
 * second half (after the code has warmed), and each program's CPU per scrape
 * from /proc. Bounded by `minutes`.
 */

export interface PromRateOptions {
  readonly minutes: number;
  /** Targets per job. Default 20 (each a client process of its own). */
  readonly targets?: number;
  /** A directory with upstream's `pushprox-proxy` and `pushprox-client`; without it only ours runs. */
  readonly upstreamDir?: string | undefined;
}

type Who = 'ours' | 'upstream';
const ms = (xs: readonly number[]) => xs.map((s) => s * 1000);

export async function promRateScenario(o: PromRateOptions): Promise<Record<string, unknown>> {
  const n = o.targets ?? 20;
  if (!Number.isInteger(n) || n < 1 || n > 20) throw new RangeError(`targets: expected an integer from 1 to 20 (one client process each), got ${n}`);
  if (!(o.minutes > 0 && o.minutes <= 240)) throw new RangeError(`minutes: expected more than 0 and at most 240, got ${o.minutes}`);
  const hosts = Array.from({ length: n }, (_, i) => `127.0.1.${10 + i}`);
  const dir = o.upstreamDir;
  const withUpstream = dir !== undefined && existsSync(path.join(dir, 'pushprox-proxy')) && existsSync(path.join(dir, 'pushprox-client'));
  if (dir !== undefined && !withUpstream) throw new Error(`--upstream=${dir}: expected pushprox-proxy and pushprox-client in it`);
  const exp = await benchExporter(10 * 1024, false, hosts);
  const stacks: Array<[Who, Stack]> = [];
  let prom: Prometheus | undefined;
  try {
    stacks.push(['ours', await ourStack(hosts)]);
    if (withUpstream) stacks.push(['upstream', await upstreamStack(dir, hosts)]);
    prom = await Prometheus.start(
      [
        'global: { scrape_interval: 2s, scrape_timeout: 1500ms }',
        'scrape_configs:',
        ...stacks.flatMap(([who, s]) => [
          `  - job_name: ${who}`,
          `    proxy_url: http://127.0.0.1:${s.port}`,
          `    static_configs: [{ targets: [${hosts.map((h) => `'${h}:${exp.port}'`).join(', ')}] }]`,
        ]),
      ].join('\n'),
    );
    const cpu = () =>
      stacks.map(([, s]) => {
        const [proxy, ...clients] = s.procs;
        return { proxy: cpuTotal(cpuSplitOf(proxy!.pid)), clients: cpuTotal(cpuSplitOfAll(clients)) };
      });
    const cpu0 = cpu();
    const start = performance.now();
    const end = start + o.minutes * 60_000;
    while (performance.now() < end) {
      await new Promise((r) => setTimeout(r, Math.min(5 * 60_000, end - performance.now())));
      for (const [who, s] of stacks) if (s.procs.some((p) => !p.running)) throw new Error(`a process of ${who} exited during the run`);
      const recent = await Promise.all(stacks.map(([who]) => prom!.rangeValues(`scrape_duration_seconds{job="${who}"}[5m]`)));
      const line = stacks.map(([who], i) => {
        const d = summarize(ms(recent[i]!));
        return `${who} p50 ${d.p50.toFixed(2)} p99 ${d.p99.toFixed(2)} ms`;
      });
      console.log(`prom-rate ${((performance.now() - start) / 60_000).toFixed(1)} min, last 5 min: ${line.join('; ')}`);
    }
    const cpu1 = cpu();
    const runMin = (performance.now() - start) / 60_000;
    const window = `${Math.max(1, Math.floor(runMin))}m`;
    const halfWindow = `${Math.max(1, Math.floor(runMin / 2))}m`;
    const per: Record<string, Record<string, unknown>> = {};
    for (const [i, [who]] of stacks.entries()) {
      const all = summarize(ms(await prom.rangeValues(`scrape_duration_seconds{job="${who}"}[${window}]`)));
      const late = summarize(ms(await prom.rangeValues(`scrape_duration_seconds{job="${who}"}[${halfWindow}]`)));
      const ups = await prom.rangeValues(`up{job="${who}"}[${window}]`);
      // The first scrapes of each target, right after the programs started (see warm-up.ts).
      const series = (await prom.rangeSeries(`scrape_duration_seconds{job="${who}"}[${Math.ceil(runMin) + 2}m]`)).map(ms);
      const first = summarize(series.flatMap((s) => s.slice(0, 1)));
      const next = summarize(series.flatMap((s) => s.slice(1, 10)));
      per[who] = {
        scrapes: all.count,
        failed_scrapes: ups.filter((u) => u === 0).length,
        scrape_duration_ms: { p50: all.p50, p90: all.p90, p99: all.p99, max: all.max },
        scrape_duration_second_half_ms: { p50: late.p50, p90: late.p90, p99: late.p99, max: late.max },
        first_scrape_ms: { p50: first.p50, max: first.max },
        scrapes_2_to_10_ms: { p50: next.p50, p99: next.p99 },
        proxy_cpu_ms_per_scrape: ((cpu1[i]!.proxy - cpu0[i]!.proxy) * 1000) / Math.max(1, all.count),
        clients_cpu_ms_per_scrape: ((cpu1[i]!.clients - cpu0[i]!.clients) * 1000) / Math.max(1, all.count),
      };
    }
    const ratio = (field: 'scrape_duration_ms' | 'scrape_duration_second_half_ms', q: 'p50' | 'p99') => {
      const of = (who: Who) => (per[who]?.[field] as Record<string, number> | undefined)?.[q] ?? NaN;
      return of('ours') / of('upstream');
    };
    const row = {
      scenario: `prom-rate: ${n} targets every 2 s under Prometheus${withUpstream ? ', ours and upstream side by side' : ''}, ${o.minutes} min`,
      minutes: runMin,
      targets: n,
      ...per,
      ...(withUpstream && {
        ours_to_upstream: {
          p50: ratio('scrape_duration_ms', 'p50'),
          p99: ratio('scrape_duration_ms', 'p99'),
          second_half_p50: ratio('scrape_duration_second_half_ms', 'p50'),
          second_half_p99: ratio('scrape_duration_second_half_ms', 'p99'),
        },
      }),
    };
    console.log(`JSON ${JSON.stringify(row)}`);
    return row;
  } finally {
    await prom?.stop();
    await Promise.all(stacks.map(([, s]) => s.stop()));
    await exp.stop();
  }
}
