import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface LoadResult {
  readonly latenciesMs: number[];
  readonly errors: number;
  readonly seconds: number;
  readonly bytes: number;
}

export interface LoadOptions {
  /** Absolute URL of the target. */
  readonly target: string;
  /** Send through this proxy port as Prometheus does (absolute-form), or directly when undefined. */
  readonly proxyPort?: number;
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Stop after this many requests in all ... */
  readonly maxRequests: number;
  /** ... or after this long, whichever comes first. */
  readonly maxSeconds: number;
  /** X-Prometheus-Scrape-Timeout-Seconds. Default 10. */
  readonly timeoutSecs?: number;
  readonly gzip?: boolean;
  /** Several targets are taken round-robin (scenario iii). */
  readonly targets?: readonly string[];
}

/**
 * A closed-loop load: `concurrency` workers each send one request, read the
 * whole body, and send the next. Bounded in count and time; stops by itself.
 */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const latencies: number[] = [];
  let errors = 0;
  let bytes = 0;
  let sent = 0;
  const start = performance.now();
  const deadline = start + opts.maxSeconds * 1000;
  const targets = opts.targets ?? [opts.target];
  const worker = async () => {
    while (sent < opts.maxRequests && performance.now() < deadline) {
      const target = targets[sent % targets.length]!;
      sent++;
      const t0 = performance.now();
      try {
        const r = await once(agent, target, opts);
        bytes += r.bytes;
        if (r.status === 200) latencies.push(performance.now() - t0);
        else errors++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  agent.destroy();
  return { latenciesMs: latencies, errors, seconds: (performance.now() - start) / 1000, bytes };
}

function once(agent: http.Agent, target: string, opts: LoadOptions): Promise<{ status: number; bytes: number }> {
  const u = new URL(target);
  const headers: Record<string, string> = { 'X-Prometheus-Scrape-Timeout-Seconds': String(opts.timeoutSecs ?? 10) };
  if (opts.gzip) headers['Accept-Encoding'] = 'gzip';
  const req = opts.proxyPort
    ? { host: '127.0.0.1', port: opts.proxyPort, path: target, headers, agent }
    : { host: u.hostname, port: Number(u.port), path: u.pathname + u.search, headers, agent };
  return new Promise((resolve, reject) => {
    const r = http.get(req, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: n }));
      res.on('error', reject);
    });
    r.setTimeout(((opts.timeoutSecs ?? 10) + 5) * 1000, () => r.destroy(new Error('timeout')));
    r.on('error', reject);
  });
}

export interface PairedResult {
  readonly directMs: number[];
  readonly viaMs: number[];
  readonly errors: number;
}

/**
 * One request at a time, alternating between the direct target and the relay
 * (which goes first swaps every pair), so both see the same phase of a noisy
 * machine: their ratio is far steadier than that of two runs one after the
 * other. A pair with an error is dropped whole. Bounded by `pairs` and
 * `maxSeconds`.
 */
export async function runPairedLoad(
  direct: Pick<LoadOptions, 'target' | 'timeoutSecs' | 'gzip'>,
  via: Pick<LoadOptions, 'target' | 'proxyPort' | 'timeoutSecs' | 'gzip'>,
  pairs: number,
  maxSeconds: number,
): Promise<PairedResult> {
  const agents = { direct: new http.Agent({ keepAlive: true, maxSockets: 1 }), via: new http.Agent({ keepAlive: true, maxSockets: 1 }) };
  const options = { direct: { ...direct, concurrency: 1, maxRequests: 1, maxSeconds }, via: { ...via, concurrency: 1, maxRequests: 1, maxSeconds } };
  const timed = async (which: 'direct' | 'via'): Promise<number | undefined> => {
    const opts = options[which];
    const t0 = performance.now();
    try {
      const r = await once(agents[which], opts.target, opts);
      return r.status === 200 ? performance.now() - t0 : undefined;
    } catch {
      return undefined;
    }
  };
  const directMs: number[] = [];
  const viaMs: number[] = [];
  let errors = 0;
  const deadline = performance.now() + maxSeconds * 1000;
  try {
    for (let i = 0; i < pairs && performance.now() < deadline; i++) {
      const first = i % 2 === 0 ? 'direct' : 'via';
      const a = await timed(first);
      const b = await timed(first === 'direct' ? 'via' : 'direct');
      if (a === undefined || b === undefined) {
        errors++;
        continue;
      }
      directMs.push(first === 'direct' ? a : b);
      viaMs.push(first === 'direct' ? b : a);
    }
  } finally {
    agents.direct.destroy();
    agents.via.destroy();
  }
  return { directMs, viaMs, errors };
}
