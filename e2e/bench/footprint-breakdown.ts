import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Row } from './charts.js';
import { median } from './stats.js';

/**
 * Issue #28's breakdown: what each dependency and part of the client costs
 * at start-up when imported alone in a fresh node (import-cost-main.ts): the
 * import's time, and after a full collection the V8 heap, RSS and private
 * memory it added. Median of `runs` processes each. Modules share their
 * dependencies, so the parts do not add up to the whole.
 */

const MAIN = fileURLToPath(new URL('./import-cost-main.js', import.meta.url));

interface Cost {
  readonly ms: number;
  readonly heap: number;
  readonly rss: number;
  readonly anon: number;
}

function importCost(spec: string): Promise<Cost> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--expose-gc', MAIN, spec], { timeout: 30_000, killSignal: 'SIGKILL', encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`importing ${spec}: ${err.message}\n${stderr}`));
      try {
        resolve(JSON.parse(stdout) as Cost);
      } catch {
        reject(new Error(`importing ${spec}: expected one JSON line, got ${JSON.stringify(stdout.slice(0, 200))}`));
      }
    });
  });
}

/** What is measured: a label and the specifier import-cost-main.js imports (bare names resolve from this repository). */
function entries(root: string, compareRoot: string | undefined): Array<[string, string]> {
  const client = (p: string) => pathToFileURL(path.join(root, 'packages/client/dist/src', p)).href;
  const out: Array<[string, string]> = [
    ['nothing (node:os, already loaded): the noise floor', 'node:os'],
    ['undici, the parts the client loads (http/undici-parts.ts)', client('http/undici-parts.js')],
    ['undici, whole index', 'undici'],
    ['prom-client', 'prom-client'],
    ["@opentelemetry/api (prom-client's process CPU metrics require it)", '@opentelemetry/api'],
    ['yargs', 'yargs'],
    ['p-queue', 'p-queue'],
    ['node-forge (enroll and --tls.auto-renew only)', 'node-forge'],
    ['@pushprox/shared (index)', pathToFileURL(path.join(root, 'packages/shared/dist/src/index.js')).href],
    ['client: cli.ts (flags; what --help loads)', client('cli.js')],
    ['client: metrics.ts (prom-client, metrics server)', client('metrics.js')],
    ['client: config.ts + client.ts (all a running client loads)', client('client.js')],
    ['client: enroll/renew.ts (--tls.auto-renew only)', client('enroll/renew.js')],
  ];
  const winston = compareRoot && path.join(compareRoot, 'node_modules/winston/lib/winston.js');
  if (winston && existsSync(winston)) out.push(['winston (before; replaced by runtime/log.ts)', pathToFileURL(winston).href]);
  return out;
}

export async function footprintBreakdown(root: string, compareRoot: string | undefined, runs = 3): Promise<Row[]> {
  const rows: Row[] = [];
  const mb = (b: number) => Number((b / 1048576).toFixed(2));
  for (const [label, spec] of entries(root, compareRoot)) {
    const costs: Cost[] = [];
    for (let i = 0; i < runs; i++) costs.push(await importCost(spec));
    const m = (k: keyof Cost) => median(costs.map((c) => c[k]));
    const row: Row = {
      scenario: `footprint breakdown: ${label}`,
      import_ms: Number(m('ms').toFixed(1)),
      heap_mb: mb(m('heap')),
      rss_mb: mb(m('rss')),
      private_mb: mb(m('anon')),
      runs,
    };
    console.log(`${row.scenario.padEnd(90)} ${row['import_ms']} ms, heap +${row['heap_mb']} MB, RSS +${row['rss_mb']} MB, private +${row['private_mb']} MB`);
    console.log(`JSON ${JSON.stringify(row)}`);
    rows.push(row);
  }
  return rows;
}
