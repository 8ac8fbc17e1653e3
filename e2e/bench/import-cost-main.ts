import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/**
 * `node --expose-gc import-cost-main.js <specifier>`: imports one module in
 * this fresh process and prints, as one JSON line, what that cost: the time
 * import() took, and after a full collection the V8 heap, RSS and private
 * memory (RssAnon) it added. For footprint-breakdown.ts.
 */

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('expected --expose-gc');
const status = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) * 1024;
const read = () => {
  gc();
  return { heap: process.memoryUsage().heapUsed, rss: status('VmRSS'), anon: status('RssAnon') };
};
const spec = process.argv[2];
if (!spec) throw new Error('expected a module specifier or file URL');
const before = read();
const t0 = performance.now();
await import(spec);
const ms = performance.now() - t0;
const after = read();
process.stdout.write(`${JSON.stringify({ ms, heap: after.heap - before.heap, rss: after.rss - before.rss, anon: after.anon - before.anon })}\n`);
// Whatever the module started (timers, handles) must not keep this process.
process.exit(0);
