import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Proc } from '../src/procs.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** The bench exporter (exporter-main.ts) in its own process, listening on every address of `hosts`. */
export async function benchExporter(size: number, gzip = false, hosts = ['127.0.0.1']): Promise<Proc & { port: number }> {
  const p = new Proc('bench exporter', process.execPath, [
    path.join(HERE, 'exporter-main.js'),
    `--size=${size}`,
    `--gzip=${gzip}`,
    `--hosts=${hosts.join(',')}`,
  ]);
  const m = await p.waitFor(/ready (\d+)/, 60_000);
  return Object.assign(p, { port: Number(m[1]) });
}
