import { getUrl } from './http.js';
import type { Prometheus } from './prometheus.js';

/**
 * Measuring restart drills with a real Prometheus: its `up` samples tell the
 * failed scrapes, per target, in a time window.
 */

/** Failed scrapes (`up` == 0) per instance of `job` with a timestamp at or after `sinceMs` (epoch ms). */
export async function failedScrapes(prom: Prometheus, job: string, sinceMs: number): Promise<Map<string, number>> {
  const windowS = Math.ceil((Date.now() - sinceMs) / 1000) + 5;
  const r = await getUrl(`${prom.url}/api/v1/query?query=${encodeURIComponent(`up{job="${job}"}[${windowS}s]`)}`);
  const body = JSON.parse(r.body.toString()) as {
    status: string;
    data: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> };
  };
  if (body.status !== 'success') throw new Error(`range query of up failed: ${r.body.toString()}`);
  const out = new Map<string, number>();
  for (const series of body.data.result) {
    const failed = series.values.filter(([at, v]) => at * 1000 >= sinceMs && v === '0').length;
    out.set(series.metric['instance']!, failed);
  }
  return out;
}

/** Waits until every target of `job` reports a scrape that succeeded after `sinceMs`; the wait in ms. */
export async function allUpSince(prom: Prometheus, job: string, count: number, sinceMs: number, timeoutMs: number): Promise<number> {
  const { ms } = await prom.waitFor(`all ${count} targets of ${job} up`, timeoutMs, async () => {
    const targets = (await prom.targets()).filter((t) => t.scrapePool === job);
    const up = targets.filter((t) => t.health === 'up' && Date.parse(t.lastScrape) >= sinceMs);
    return targets.length === count && up.length === count ? true : undefined;
  });
  return ms;
}
