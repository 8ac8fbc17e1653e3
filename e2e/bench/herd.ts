import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { freePort } from '../src/ports.js';
import { Proc, startProxyProc, type ProxyProc } from '../src/procs.js';
import { metricValue } from '../src/proxy-api.js';

/**
 * Herd (issue #30): `clients` clients (herd-client-main.ts, in HERD_PROCESSES
 * processes, each holding one poll with our client's retry rules) come back
 * to a proxy restarted on the same address: with SIGTERM (handover) and an
 * immediate restart, or kill -9 and back 5 s later. Reports the time from the
 * new proxy listening until half, 90 % and all of them wait there again,
 * and the polls and errors the herd spent meanwhile; as the baseline, how
 * long the same herd took to connect at first to a proxy already up.
 * Bounded: 120 s per wait.
 */

const HERD_PROCESSES = 2;
const MAIN = fileURLToPath(new URL('./herd-client-main.js', import.meta.url));

export interface HerdOptions {
  readonly clients: number;
  readonly restart: 'sigterm' | 'kill';
  readonly name: string;
  /** The clients' --proxy.retry.fast-period in ms; default theirs (15 s). */
  readonly fastPeriodMs?: number;
}

const waiting = (proxy: ProxyProc): Promise<number> => metricValue(proxy.url, 'pushprox_proxy_waiting_polls').catch(() => 0);

/** The herd's `stats <polls> <errors>` lines, summed over its processes (last line of each). */
function herdStats(procs: readonly Proc[]): { polls: number; errors: number } {
  let polls = 0;
  let errors = 0;
  for (const p of procs) {
    const m = [...p.output.matchAll(/stats (\d+) (\d+)/g)].at(-1);
    polls += Number(m?.[1] ?? 0);
    errors += Number(m?.[2] ?? 0);
  }
  return { polls, errors };
}

export async function herdScenario(o: HerdOptions): Promise<Record<string, unknown>> {
  const port = await freePort();
  const listen = `--web.listen-address=127.0.0.1:${port}`;
  let proxy = await startProxyProc([listen]);
  const per = Math.ceil(o.clients / HERD_PROCESSES);
  const herd = Array.from({ length: HERD_PROCESSES }, (_, k) =>
    new Proc(`herd ${k}`, process.execPath, [MAIN, `--port=${port}`, `--from=${k * per}`, `--to=${Math.min(o.clients, (k + 1) * per)}`,
      ...(o.fastPeriodMs === undefined ? [] : [`--fast-period=${o.fastPeriodMs}`])]),
  );
  try {
    const until = async (n: number, limitMs: number): Promise<number> => {
      const start = performance.now();
      while ((await waiting(proxy)) < n) {
        if (performance.now() - start > limitMs) throw new Error(`${o.name}: only ${await waiting(proxy)} of ${n} polls waiting after ${limitMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return performance.now() - start;
    };
    // The baseline, in the same run: the herd connecting to a proxy that was up all along.
    const firstMs = await until(o.clients, 120_000);
    await new Promise((r) => setTimeout(r, 2_000));
    if (o.restart === 'sigterm') await proxy.stop('SIGTERM');
    else {
      await proxy.stop('SIGKILL');
      await new Promise((r) => setTimeout(r, 5_000));
    }
    const before = herdStats(herd);
    proxy = await startProxyProc([listen]);
    const t0 = performance.now();
    const marks: number[] = [];
    for (const share of [0.5, 0.9, 1]) {
      await until(Math.ceil(o.clients * share), 120_000);
      marks.push(performance.now() - t0);
    }
    await new Promise((r) => setTimeout(r, 1_100));
    const after = herdStats(herd);
    const row = {
      scenario: o.name,
      clients: o.clients,
      restart: o.restart,
      fast_period_ms: o.fastPeriodMs ?? 15_000,
      back_50pct_ms: Math.round(marks[0]!),
      back_90pct_ms: Math.round(marks[1]!),
      back_all_ms: Math.round(marks[2]!),
      first_connect_all_ms: Math.round(firstMs),
      polls_while_coming_back: after.polls - before.polls,
      errors_while_coming_back: after.errors - before.errors,
    };
    console.log(`${o.name.padEnd(44)} back: 50% ${row.back_50pct_ms} ms, 90% ${row.back_90pct_ms} ms, all ${row.back_all_ms} ms after the proxy listened (first connect of all: ${row.first_connect_all_ms} ms)`);
    console.log(`JSON ${JSON.stringify(row)}`);
    return row;
  } finally {
    await Promise.all([...herd.map((h) => h.stop()), proxy.stop()]);
  }
}
