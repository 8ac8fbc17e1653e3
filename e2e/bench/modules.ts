import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startClientProc, startProxyProc } from '../src/procs.js';
import { waitRegistered } from '../src/proxy-api.js';
import { benchExporter } from './bench-exporter.js';
import { runLoad } from './load.js';
import { cpuSecondsOf, PeakSampler, rssOf } from './procstat.js';
import { median, spread, summarize } from './stats.js';

const MB = 1024 * 1024;

/**
 * Modules (issue #24): one proxy, one client with an exporter_exporter YAML.
 * Same run, alternating per repetition: a plain scrape of the bench exporter
 * through the proxy, the same exporter as an http module with and without
 * `verify`; then 100 MB bodies as a module with and without `verify`, for the
 * client's CPU per verified MB and its peak RSS while verifying.
 */
export async function modulesScenario(reps: number): Promise<Record<string, unknown>[]> {
  const small = await benchExporter(10 * 1024);
  const big = await benchExporter(100 * MB);
  const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-bench-modules-'));
  const file = path.join(dir, 'expexp.yaml');
  writeFileSync(
    file,
    `modules:
  bench: { method: http, http: { port: ${small.port} } }
  bench-noverify: { method: http, http: { port: ${small.port}, verify: false } }
  big: { method: http, http: { port: ${big.port} } }
  big-noverify: { method: http, http: { port: ${big.port}, verify: false } }
`,
  );
  const proxy = await startProxyProc(['--push.max-body-size=200MB']);
  const client = startClientProc(proxy.url, '127.0.0.1', [`--config.file=${file}`]);
  const rows: Record<string, unknown>[] = [];
  try {
    await waitRegistered(proxy.url, ['127.0.0.1'], { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 500));
    const idleRssMb = rssOf(client.pid) / MB;
    const load = { proxyPort: proxy.port, concurrency: 1, maxRequests: 2000, maxSeconds: 5 };
    const targets = {
      plain: `http://127.0.0.1:${small.port}/metrics`,
      module: 'http://127.0.0.1/proxy?module=bench',
      module_noverify: 'http://127.0.0.1/proxy?module=bench-noverify',
    } as const;
    await runLoad({ ...load, target: targets.module, maxRequests: 200 });
    const p50: Record<keyof typeof targets, number[]> = { plain: [], module: [], module_noverify: [] };
    const errors: Record<string, number> = {};
    for (let i = 0; i < reps; i++) {
      for (const k of Object.keys(targets) as Array<keyof typeof targets>) {
        const r = await runLoad({ ...load, target: targets[k] });
        p50[k].push(summarize(r.latenciesMs).p50);
        errors[k] = (errors[k] ?? 0) + r.errors;
      }
    }
    const ratio = (k: keyof typeof targets) => spread(p50[k].map((v, i) => v / p50.plain[i]!));
    const row = {
      scenario: 'modules: 10 KB, serial, plain scrape vs http module through the proxy',
      reps,
      plain_p50_ms: spread(p50.plain),
      module_p50_ms: spread(p50.module),
      module_noverify_p50_ms: spread(p50.module_noverify),
      module_vs_plain_p50: ratio('module'),
      module_noverify_vs_plain_p50: ratio('module_noverify'),
      module_added_p50_ms: median(p50.module.map((v, i) => v - p50.plain[i]!)),
      errors,
    };
    console.log(
      `${row.scenario}: p50 plain ${row.plain_p50_ms.median.toFixed(2)} ms, module ${row.module_p50_ms.median.toFixed(2)} ms ` +
        `(${row.module_vs_plain_p50.median.toFixed(2)}x), module without verify ${row.module_noverify_p50_ms.median.toFixed(2)} ms ` +
        `(${row.module_noverify_vs_plain_p50.median.toFixed(2)}x); errors ${JSON.stringify(errors)}`,
    );
    console.log(`JSON ${JSON.stringify(row)}`);
    rows.push(row);

    const bigLoad = { proxyPort: proxy.port, concurrency: 1, maxRequests: 3, maxSeconds: 60, timeoutSecs: 60 };
    const cpuPerMb: Record<string, number[]> = { plain: [], verify: [], noverify: [] };
    const peakMb: Record<string, number[]> = { plain: [], verify: [], noverify: [] };
    const bigErrors: Record<string, number> = { plain: 0, verify: 0, noverify: 0 };
    for (let i = 0; i < reps; i++) {
      const kinds = [
        ['plain', `http://127.0.0.1:${big.port}/metrics`],
        ['noverify', 'http://127.0.0.1/proxy?module=big-noverify'],
        ['verify', 'http://127.0.0.1/proxy?module=big'],
      ] as const;
      for (const [k, target] of kinds) {
        const cpu0 = cpuSecondsOf(client.pid);
        const sampler = new PeakSampler({ client: client.pid });
        const r = await runLoad({ ...bigLoad, target });
        const peak = sampler.stop();
        const mb = r.bytes / MB;
        cpuPerMb[k]!.push(((cpuSecondsOf(client.pid) - cpu0) * 1000) / Math.max(1, mb));
        peakMb[k]!.push(peak['client']! / MB);
        bigErrors[k]! += r.errors;
      }
    }
    const verifyCost = median(cpuPerMb['verify']!.map((v, i) => v - cpuPerMb['noverify']![i]!));
    const bigRow = {
      scenario: 'modules: 100 MB http module, verify vs no verify (client CPU per MB, client peak RSS)',
      reps,
      client_cpu_ms_per_mb_verify: spread(cpuPerMb['verify']!),
      client_cpu_ms_per_mb_noverify: spread(cpuPerMb['noverify']!),
      verify_cost_ms_per_mb: verifyCost,
      client_peak_rss_mb_verify: spread(peakMb['verify']!),
      client_peak_rss_mb_noverify: spread(peakMb['noverify']!),
      client_cpu_ms_per_mb_plain: spread(cpuPerMb['plain']!),
      client_peak_rss_mb_plain: spread(peakMb['plain']!),
      client_idle_rss_mb: idleRssMb,
      errors: bigErrors,
    };
    console.log(
      `${bigRow.scenario}: client CPU ${bigRow.client_cpu_ms_per_mb_verify.median.toFixed(2)} ms/MB verified vs ` +
        `${bigRow.client_cpu_ms_per_mb_noverify.median.toFixed(2)} ms/MB not (verification ${verifyCost.toFixed(2)} ms/MB); ` +
        `client peak RSS ${bigRow.client_peak_rss_mb_verify.median.toFixed(0)} MB verified vs ${bigRow.client_peak_rss_mb_noverify.median.toFixed(0)} MB not, ` +
        `${bigRow.client_peak_rss_mb_plain.median.toFixed(0)} MB for a plain 100 MB scrape (${bigRow.client_cpu_ms_per_mb_plain.median.toFixed(2)} ms/MB), idle ${idleRssMb.toFixed(0)} MB; errors ${JSON.stringify(bigErrors)}`,
    );
    console.log(`JSON ${JSON.stringify(bigRow)}`);
    rows.push(bigRow);
  } finally {
    await Promise.all([client.stop(), proxy.stop(), small.stop(), big.stop()]);
  }
  return rows;
}
