import { setMaxListeners } from 'node:events';
import { rmSync } from 'node:fs';
import { releaseLeash, type ExitRecord, type SoakChild } from './child.js';
import { hostileLoop } from './hostile.js';
import { parseSoakOptions, type SoakOptions } from './options.js';
import { buildReport, formatReport, sampleAll } from './report.js';
import { largeTargets, OrdinaryResults, ordinaryTargets, scrapeAndRecord, scrapeLoop } from './scraper.js';
import { sleep } from './tally.js';
import { startTopology, type Topology } from './topology.js';

/**
 * `npm run soak -- --minutes N [--json]`: real proxies (plain HTTP, and TLS
 * with basic auth), real clients (channel and polling) and real exporters on
 * 127.0.0.1; for N minutes ordinary Prometheus-style scrapes beside hostile
 * traffic; then a report of process exits, descriptors, RSS and the ordinary
 * scrapes' success. Progress goes to stderr, the report to stdout. Exit code
 * 1 when a process exited, an ordinary scrape failed or the final check did.
 */

/** Every ordinary target is scraped this often (Prometheus' scrape_interval). */
const INTERVAL_MS = 2000;
/** Each client's 8 MB target is scraped this often. */
const LARGE_INTERVAL_MS = 30_000;
const WARMUP_MS = 10_000;
/** After the traffic: longer than --web.read-header-timeout (10 s), so connections the proxy should cut are cut. */
const SETTLE_MS = 12_000;

const log = (msg: string): void => void process.stderr.write(`[soak +${Math.round((Date.now() - T0) / 1000)}s] ${msg}\n`);
const T0 = Date.now();

let opts: SoakOptions;
try {
  opts = parseSoakOptions(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(2);
}

const children: SoakChild[] = [];
const exits: ExitRecord[] = [];
const abort = new AbortController();
// Every loop and sleep of the soak listens on it.
setMaxListeners(10_000, abort.signal);
let interrupted = false;

const onSignal = (sig: NodeJS.Signals): void => {
  if (interrupted) {
    for (const c of children) c.killNow();
    process.exit(130);
  }
  interrupted = true;
  log(`${sig}: stopping the traffic, then the processes (again to kill them at once)`);
  abort.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('exit', () => {
  for (const c of children) c.killNow();
});

const onExit = (r: ExitRecord): void => {
  exits.push(r);
  log(`UNEXPECTED EXIT: ${r.name} (pid ${r.pid}) code=${r.code} signal=${r.signal}; restarting. Last stderr:\n  ${r.stderrTail.slice(-10).join('\n  ')}`);
};

async function soak(topo: Topology): Promise<number> {
  const signal = abort.signal;
  const targets = ordinaryTargets(topo);
  const large = largeTargets(topo);
  log(`${topo.children.length} processes up; ${targets.length} ordinary targets every ${INTERVAL_MS / 1000} s, ${large.length} 8 MB targets every ${LARGE_INTERVAL_MS / 1000} s` +
    (topo.nodeExporterPort ? '' : ' (node_exporter not installed: only the e2e exporter)'));
  const warm = new OrdinaryResults();
  await scrapeLoop(targets, INTERVAL_MS, Date.now() + WARMUP_MS, warm, signal);
  log(`warm-up: ${[...warm.ok.values()].reduce((a, b) => a + b, 0)} ok, ${warm.failures.total} failed ${JSON.stringify(warm.failures.toJSON())}`);
  await sleep(2000, signal);
  const start = sampleAll(topo.children);
  const ordinary = new OrdinaryResults();
  const until = Date.now() + opts.minutes * 60_000;
  const progress = setInterval(
    () => log(`${[...ordinary.ok.values()].reduce((a, b) => a + b, 0)} ordinary ok, ${ordinary.failures.total} failed, ${exits.length} exits`),
    30_000,
  );
  const [, , hostile] = await Promise.all([
    scrapeLoop(targets, INTERVAL_MS, until, ordinary, signal),
    scrapeLoop(large, LARGE_INTERVAL_MS, until, ordinary, signal),
    hostileLoop(topo, until, signal),
  ]).finally(() => clearInterval(progress));
  log(`traffic done; settling ${SETTLE_MS / 1000} s`);
  await sleep(SETTLE_MS, signal);
  const end = sampleAll(topo.children);
  const final = new OrdinaryResults();
  for (const t of [...targets, ...large]) await scrapeAndRecord(t, final, undefined);
  const report = buildReport({
    minutes: opts.minutes,
    wallS: (Date.now() - T0) / 1000,
    interrupted,
    children: topo.children,
    start,
    end,
    exits,
    ordinary,
    final,
    hostile,
  });
  process.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : `${formatReport(report)}\n`);
  const bad = report.unexpected_exits > 0 || report.ordinary.ok < report.ordinary.scrapes || report.final_check.ok < report.final_check.scrapes;
  return bad ? 1 : 0;
}

let code = 1;
let dir: string | undefined;
try {
  const topo = await startTopology(onExit, T0, children);
  dir = topo.dir;
  code = await soak(topo);
} catch (err) {
  log(`soak failed: ${(err as Error).stack ?? String(err)}`);
} finally {
  await Promise.all(children.map((c) => c.stop()));
  releaseLeash();
  if (dir) rmSync(dir, { recursive: true, force: true });
}
// An explicit exit: Node 20 once spun at 100% CPU at a natural exit, in CleanupHandles, waiting for a
// socket of ours that had been reset with writes pending to finish closing.
process.exit(interrupted ? 130 : code);
