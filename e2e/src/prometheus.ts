import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BINARIES } from './binaries.js';
import { getUrl } from './http.js';
import { freePort, waitListening } from './ports.js';
import { Proc } from './procs.js';

export interface PromTarget {
  readonly labels: Record<string, string>;
  readonly scrapeUrl: string;
  readonly health: 'up' | 'down' | 'unknown';
  readonly lastError: string;
  readonly scrapePool: string;
  /** RFC 3339 time of the last scrape. */
  readonly lastScrape: string;
}

/**
 * A real Prometheus on loopback with a throw-away data directory, driven only
 * through its config file and read only through its HTTP API.
 */
export class Prometheus {
  readonly proc: Proc;
  readonly port: number;
  readonly dir: string;
  readonly url: string;

  private constructor(proc: Proc, port: number, dir: string) {
    this.proc = proc;
    this.port = port;
    this.dir = dir;
    this.url = `http://127.0.0.1:${port}`;
  }

  /** `config` is the YAML text; `files` are written beside it first (e.g. file_sd JSON). */
  static async start(config: string, files: Record<string, string> = {}): Promise<Prometheus> {
    const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-prom-'));
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
    writeFileSync(path.join(dir, 'prometheus.yml'), config);
    const port = await freePort();
    const proc = new Proc('prometheus', BINARIES.prometheus, [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-lifecycle',
      '--log.level=warn',
    ]);
    await waitListening('127.0.0.1', port, 30_000);
    return new Prometheus(proc, port, dir);
  }

  async stop(): Promise<void> {
    await this.proc.stop('SIGTERM', 10_000);
    rmSync(this.dir, { recursive: true, force: true });
  }

  async targets(): Promise<PromTarget[]> {
    const r = await getUrl(`${this.url}/api/v1/targets?state=active`);
    return (JSON.parse(r.body.toString()) as { data: { activeTargets: PromTarget[] } }).data.activeTargets;
  }

  /** Instant query; returns [labels, value] pairs. */
  async query(expr: string): Promise<Array<{ metric: Record<string, string>; value: number }>> {
    const r = await getUrl(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = JSON.parse(r.body.toString()) as {
      status: string;
      error?: string;
      data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
    };
    if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error}`);
    return body.data.result.map((x) => ({ metric: x.metric, value: Number(x.value[1]) }));
  }

  /** Every sample of `expr` (a range selector, e.g. `up[10m]`), over all its series, in order of series then time. */
  async rangeValues(expr: string): Promise<number[]> {
    return (await this.rangeSeries(expr)).flat();
  }

  /** Like rangeValues, one array per series, each in time order (as Prometheus returns them). */
  async rangeSeries(expr: string): Promise<number[][]> {
    const r = await getUrl(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`, { timeoutMs: 60_000 });
    const body = JSON.parse(r.body.toString()) as { status: string; error?: string; data: { result: Array<{ values: Array<[number, string]> }> } };
    if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error}`);
    return body.data.result.map((x) => x.values.map((v) => Number(v[1])));
  }

  /** Polls `check` every 250 ms until it returns a value that is not undefined; rejects after `timeoutMs`. */
  async waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<{ value: T; ms: number }> {
    const start = Date.now();
    let last: unknown;
    for (;;) {
      try {
        const v = await check();
        if (v !== undefined) return { value: v, ms: Date.now() - start };
      } catch (err) {
        last = err;
      }
      if (Date.now() - start > timeoutMs) {
        const targets = await this.targets().catch(() => []);
        throw new Error(
          `${what}: not reached within ${timeoutMs} ms (last error: ${String(last)}); targets: ` +
            JSON.stringify(targets.map((t) => ({ url: t.scrapeUrl, health: t.health, err: t.lastError }))),
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Waits until the target whose scrape URL contains `needle` has `health`. */
  waitHealth(needle: string, health: 'up' | 'down', timeoutMs: number) {
    return this.waitFor(`target ${needle} ${health}`, timeoutMs, async () => {
      const t = (await this.targets()).find((x) => x.scrapeUrl.includes(needle));
      return t && t.health === health ? t : undefined;
    });
  }
}
