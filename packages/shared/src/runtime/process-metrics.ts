/**
 * Options for prom-client's `collectDefaultMetrics` (the `process_*` and
 * `nodejs_*` metrics) in both programs.
 *
 * `eventLoopMonitoringPrecision`: the `nodejs_eventloop_lag_{min,max,mean,
 * stddev,p50,p90,p99}_seconds` histogram is fed by a libuv timer that fires
 * at this interval for the life of the process, each time waking it.
 * prom-client's default of 10 ms woke an idle program 100 times a second
 * (~4 ms of CPU a second; 50 clients on 2 cores gave up 15 % of a core). At
 * once a second, an idle client still spent 70-120 µs of CPU a second on it
 * (schedstat), a sixth of what a client scraped every 2 s spends per scrape;
 * upstream's Go programs wake for nothing between requests. Every 10 s the
 * histogram still samples how late a timer fires, six times a minute.
 * `nodejs_eventloop_lag_seconds` is measured at each scrape of /metrics
 * either way.
 */
export const DEFAULT_METRICS_OPTIONS = Object.freeze({ eventLoopMonitoringPrecision: 10_000 });

/**
 * prom-client's default gauges whose names end in `_total`, which the
 * exposition format keeps for counters: `promtool check metrics` fails on
 * them. Each is the sum of a labelled gauge that stays
 * (`nodejs_active_handles{type="Socket"}`, ...), so nothing is lost.
 */
export const MISNAMED_DEFAULT_METRICS: readonly string[] = Object.freeze([
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
]);

/** Removes MISNAMED_DEFAULT_METRICS from a registry that collectDefaultMetrics filled (a prom-client Registry). */
export function dropMisnamedDefaultMetrics(registry: { removeSingleMetric(name: string): void }): void {
  for (const name of MISNAMED_DEFAULT_METRICS) registry.removeSingleMetric(name);
}
