import { performance } from 'node:perf_hooks';
import { BINARIES, missing } from '../src/binaries.js';
import { drainVia } from '../src/http.js';
import { startExporter } from '../src/exporter.js';
import { startNatsCluster } from '../src/nats.js';
import { startClientProc, startProxyProc, type ProxyProc } from '../src/procs.js';
import { waitRegistered } from '../src/proxy-api.js';
import { runLoad } from './load.js';
import { benchExporter } from './bench-exporter.js';
import { PeakSampler, rssOf } from './procstat.js';
import { median, summarize } from './stats.js';

const MB = 1024 * 1024;

/**
 * Issue #25: the NATS hop. Two proxies on one nats-server, one client (ours,
 * on a channel) on proxy A. The same exporter is scraped serially, rounds
 * alternating local (through A) and forwarded (through B, over NATS to A),
 * so both see the same machine state; then 10 MB bodies forwarded, with the
 * peak RSS of both proxies against their RSS before. Returns the JSON row.
 */
export async function clusterScenario(reps: number): Promise<Record<string, unknown> & { scenario: string }> {
  const scenario = 'cluster: forwarded vs local scrape, 10 KB serial; throughput over 3 proxies; 10 MB forwarded';
  if (missing('natsServer').length > 0) return { scenario, skipped: `no ${BINARIES.natsServer}` };
  const nats = await startNatsCluster(1);
  const exporter = await benchExporter(10 * 1024);
  // Streams generated bodies of any size (/big?bytes=N) without holding them.
  const bigExporter = await startExporter();
  const procs: Array<{ stop(): Promise<unknown> }> = [exporter, { stop: () => bigExporter.close() }];
  try {
    const args = [`--cluster.nats-url=${nats.urls}`, '--cluster.announce-interval=1s'];
    const a: ProxyProc = await startProxyProc(args);
    const b: ProxyProc = await startProxyProc(args);
    procs.push(a, b);
    const client = startClientProc(a.url, '127.0.0.1', ['--log.level=warn']);
    procs.push(client);
    await waitRegistered(a.url, '127.0.0.1', { client });
    await waitRegistered(b.url, '127.0.0.1', { timeoutMs: 10_000 });
    const target = `http://127.0.0.1:${exporter.port}/metrics`;
    const round = (port: number) => runLoad({ target, proxyPort: port, concurrency: 1, maxRequests: 200, maxSeconds: 5 });
    const localMs: number[] = [];
    const forwardedMs: number[] = [];
    const p50Added: number[] = [];
    let errors = 0;
    // Warm-up: V8 and both connections.
    await round(a.port);
    await round(b.port);
    for (let i = 0; i < reps * 5; i++) {
      const local = await round(a.port);
      const fwd = await round(b.port);
      errors += local.errors + fwd.errors;
      localMs.push(...local.latenciesMs);
      forwardedMs.push(...fwd.latenciesMs);
      p50Added.push(summarize(fwd.latenciesMs).p50 - summarize(local.latenciesMs).p50);
    }
    // Throughput, 8 scrapes in flight: all through A (one proxy) against spread over A and B (half forwarded).
    const c = await startProxyProc(args);
    procs.push(c);
    await waitRegistered(c.url, '127.0.0.1', { timeoutMs: 10_000 });
    const tput = async (ports: number[]): Promise<number> => {
      const per = 8 / ports.length;
      const runs = await Promise.all(ports.map((port) => runLoad({ target, proxyPort: port, concurrency: per, maxRequests: 20_000, maxSeconds: 5 })));
      errors += runs.reduce((n, r) => n + r.errors, 0);
      return runs.reduce((n, r) => n + r.latenciesMs.length, 0) / Math.max(...runs.map((r) => r.seconds));
    };
    const onePerS: number[] = [];
    const spreadPerS: number[] = [];
    for (let i = 0; i < reps; i++) {
      onePerS.push(await tput([a.port]));
      spreadPerS.push(await tput([a.port, b.port, c.port, b.port]));
    }
    const bigTarget = `${bigExporter.url}/big?bytes=${10 * MB}`;
    // Baseline: the same 10 MB bodies scraped locally through the holder, its peak RSS.
    const localBefore = rssOf(a.pid);
    const localSampler = new PeakSampler({ a: a.pid });
    for (let i = 0; i < 5; i++) await drainVia(a.port, bigTarget, 60);
    const localPeak = localSampler.stop();
    const before = { a: rssOf(a.pid), b: rssOf(b.pid) };
    const sampler = new PeakSampler({ a: a.pid, b: b.pid });
    const bigStart = performance.now();
    let bigOk = 0;
    for (let i = 0; i < 5; i++) {
      const r = await drainVia(b.port, bigTarget, 60);
      if (r.status === 200 && r.bytes === 10 * MB) bigOk++;
    }
    const bigSeconds = (performance.now() - bigStart) / 1000;
    const peak = sampler.stop();
    // Ten times the body: the peaks must not grow with it.
    const hugeSampler = new PeakSampler({ a: a.pid, b: b.pid });
    const huge = await drainVia(b.port, `${bigExporter.url}/big?bytes=${100 * MB}`, 120);
    const hugePeak = hugeSampler.stop();
    const row = {
      scenario,
      reps,
      local_p50_ms: summarize(localMs).p50,
      forwarded_p50_ms: summarize(forwardedMs).p50,
      forwarded_p99_ms: summarize(forwardedMs).p99,
      added_p50_ms_median_of_rounds: median(p50Added),
      scrapes_each: localMs.length,
      throughput_one_proxy_per_s: median(onePerS),
      throughput_three_proxies_per_s: median(spreadPerS),
      errors,
      big_forwarded_ok: `${bigOk}/5`,
      big_mb_per_s: (5 * 10) / bigSeconds,
      local_10mb_holder_rss_mb: { before: localBefore / MB, peak: (localPeak['a'] ?? 0) / MB },
      holder_rss_mb: { before: before.a / MB, peak: (peak['a'] ?? 0) / MB },
      requester_rss_mb: { before: before.b / MB, peak: (peak['b'] ?? 0) / MB },
      huge_100mb_forwarded_ok: huge.status === 200 && huge.bytes === 100 * MB,
      huge_peak_rss_mb: { holder: (hugePeak['a'] ?? 0) / MB, requester: (hugePeak['b'] ?? 0) / MB },
    };
    console.log(
      `${scenario}: p50 local ${row.local_p50_ms.toFixed(2)} ms, forwarded ${row.forwarded_p50_ms.toFixed(2)} ms ` +
        `(added ${row.added_p50_ms_median_of_rounds.toFixed(2)} ms, median of ${p50Added.length} rounds); ` +
        `8 in flight: ${row.throughput_one_proxy_per_s.toFixed(0)}/s through one proxy, ${row.throughput_three_proxies_per_s.toFixed(0)}/s spread over three (2 of 8 in flight through A, 4 through B, 2 through C); ` +
        `10 MB local: holder RSS ${row.local_10mb_holder_rss_mb.before.toFixed(0)}→${row.local_10mb_holder_rss_mb.peak.toFixed(0)} MB; ` +
        `10 MB forwarded ${bigOk}/5 at ${row.big_mb_per_s.toFixed(0)} MB/s, RSS holder ${row.holder_rss_mb.before.toFixed(0)}→${row.holder_rss_mb.peak.toFixed(0)} MB, ` +
        `requester ${row.requester_rss_mb.before.toFixed(0)}→${row.requester_rss_mb.peak.toFixed(0)} MB; ` +
        `100 MB forwarded ${row.huge_100mb_forwarded_ok ? 'ok' : 'FAILED'}, peak RSS holder ${row.huge_peak_rss_mb.holder.toFixed(0)} MB, requester ${row.huge_peak_rss_mb.requester.toFixed(0)} MB`,
    );
    console.log(`JSON ${JSON.stringify(row)}`);
    return row;
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await nats.stop();
  }
}
