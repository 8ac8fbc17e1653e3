import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import bcrypt from 'bcryptjs';
import { startClientProc, startProxyProc } from '../src/procs.js';
import { waitRegistered } from '../src/proxy-api.js';
import { benchExporter } from './bench-exporter.js';
import { median } from './stats.js';

const USER = 'prometheus';
const PASSWORD = 'bench-password';
/** Flood loops, as in the report that found the starvation (16 loops of wrong-password scrapes). */
const FLOOD_LOOPS = 16;
const PHASE_SECONDS = 4;
/** Each loop's requests are bounded in count too. */
const MAX_PER_LOOP = 20_000;

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function scrape(agent: http.Agent, proxyPort: number, target: string, auth: string | undefined, from: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(
      {
        host: '127.0.0.1',
        port: proxyPort,
        path: target,
        agent,
        localAddress: from,
        headers: { 'X-Prometheus-Scrape-Timeout-Seconds': '10', ...(auth !== undefined && { 'Proxy-Authorization': auth }) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
  });
}

/** pushprox_basic_auth_checks_total, read from 127.0.0.2 (127.0.0.1, the flood's source, may be refused). */
function checksFrom127002(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: '/metrics', localAddress: '127.0.0.2', agent: false, headers: { Authorization: basic(USER, PASSWORD) } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(Number(/^pushprox_basic_auth_checks_total (\S+)$/m.exec(body)?.[1])));
        res.on('error', reject);
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error('no /metrics answer within 15 s')));
    req.on('error', reject);
  });
}

interface Phase {
  readonly legitMs: number[];
  readonly legitErrors: number;
  readonly flood: Record<number, number>;
}

/**
 * One phase: FLOOD_LOOPS loops from 127.0.0.1 scraping with `floodAuth(i)`
 * (undefined: no credentials) while one Prometheus-like loop from
 * 127.0.0.2 scrapes serially with the right password. Bounded: PHASE_SECONDS.
 */
async function phase(proxyPort: number, target: string, floodAuth: (i: number) => string | undefined): Promise<Phase> {
  const deadline = performance.now() + PHASE_SECONDS * 1000;
  const floodAgent = new http.Agent({ keepAlive: true, maxSockets: FLOOD_LOOPS });
  const legitAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const flood: Record<number, number> = {};
  let n = 0;
  const loop = async () => {
    for (let i = 0; i < MAX_PER_LOOP && performance.now() < deadline; i++) {
      const status = await scrape(floodAgent, proxyPort, target, floodAuth(n++), '127.0.0.1');
      flood[status] = (flood[status] ?? 0) + 1;
    }
  };
  const legitMs: number[] = [];
  let legitErrors = 0;
  const legit = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const status = await scrape(legitAgent, proxyPort, target, basic(USER, PASSWORD), '127.0.0.2');
      if (status === 200) legitMs.push(performance.now() - t0);
      else legitErrors++;
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await Promise.all([...Array.from({ length: FLOOD_LOOPS }, loop), legit()]);
  floodAgent.destroy();
  legitAgent.destroy();
  return { legitMs, legitErrors, flood };
}

/**
 * `npm run bench -- --only=auth-flood`: a legitimate scrape's p50 latency
 * during a flood of scrapes with wrong passwords (each one different, so no
 * cached result helps) against its p50 during the same flood without
 * credentials, in the same run; target ratio <= 3. Rows for the default
 * (per-source limit on) and with --web.max-auth-failures=0 (worker thread,
 * bounded queue and caches only).
 */
export async function authFloodScenario(extraArgs: readonly string[] = []): Promise<Record<string, unknown>> {
  const name = `auth-flood: ${FLOOD_LOOPS} loops for ${PHASE_SECONDS} s${extraArgs.length ? ` ${extraArgs.join(' ')}` : ''}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushprox-auth-flood-'));
  const webConfig = path.join(dir, 'web.yml');
  fs.writeFileSync(webConfig, `basic_auth_users:\n  ${USER}: ${bcrypt.hashSync(PASSWORD, 10)}\n`);
  const exp = await benchExporter(10 * 1024);
  const proxy = await startProxyProc([`--web.config.file=${webConfig}`, ...extraArgs]);
  const client = startClientProc(proxy.url, '127.0.0.1');
  const access = { headers: { Authorization: basic(USER, PASSWORD) } };
  try {
    await waitRegistered(proxy.url, '127.0.0.1', { timeoutMs: 60_000, client, ...access });
    const target = `http://127.0.0.1:${exp.port}/metrics`;
    // Warm-up, not measured: the first check of the right password, V8's optimisation.
    await phase(proxy.port, target, () => undefined);
    const noCreds = await phase(proxy.port, target, () => undefined);
    // Other windows: the limit counts per source and minute, so the wrong-password phase starts afresh.
    const wrong = await phase(proxy.port, target, (i) => basic(USER, `wrong-${i}`));
    const p50 = (ms: number[]) => (ms.length === 0 ? NaN : median(ms));
    const row = {
      scenario: name,
      legit_p50_ms_no_credentials_flood: Number(p50(noCreds.legitMs).toFixed(2)),
      legit_p50_ms_wrong_password_flood: Number(p50(wrong.legitMs).toFixed(2)),
      ratio: Number((p50(wrong.legitMs) / p50(noCreds.legitMs)).toFixed(2)),
      legit_scrapes: [noCreds.legitMs.length, wrong.legitMs.length],
      legit_errors: [noCreds.legitErrors, wrong.legitErrors],
      flood_statuses_no_credentials: noCreds.flood,
      flood_statuses_wrong_password: wrong.flood,
      bcrypt_checks: await checksFrom127002(proxy.port),
    };
    console.log(
      `${name.padEnd(34)} legitimate scrape p50 ${row.legit_p50_ms_wrong_password_flood} ms during the wrong-password flood vs ` +
        `${row.legit_p50_ms_no_credentials_flood} ms during the flood without credentials: ${row.ratio}x (target <= 3); ` +
        `legit errors ${row.legit_errors.join('/')}, flood answers ${JSON.stringify(wrong.flood)}, bcrypt checks ${row.bcrypt_checks}`,
    );
    console.log(`JSON ${JSON.stringify(row)}`);
    return row;
  } finally {
    await Promise.all([client.stop(), proxy.stop(), exp.stop()]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
