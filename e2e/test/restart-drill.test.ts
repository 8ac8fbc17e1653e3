/**
 * Restart drills with Debian's Prometheus (2 s interval, 1.5 s timeout) and 10 of our
 * clients (half on channels, half polling), as an operator restarts a proxy:
 * - SIGTERM and an immediate restart: at most one failed scrape per target;
 * - kill -9 and back 5 s later: every client back within about a second of the proxy
 *   listening, and at most one failed scrape per target after that;
 * - with socket activation (systemd-socket-activate holds the socket, as a .socket unit
 *   does), SIGTERM and restart: no failed scrape when the restart takes less than the
 *   scrape timeout (a scrape waits in the backlog until then).
 * Each drill reports its figures (t.diagnostic): failed scrapes, clients back, all up.
 */
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BINARIES, requireBinaries } from '../src/binaries.js';
import { childrenOf } from '@pushprox/shared/testing';
import { allUpSince, failedScrapes } from '../src/drill.js';
import { startExporter, type TestExporter } from '../src/exporter.js';
import { freePort, waitListening } from '../src/ports.js';
import { killAll, Proc, PROXY_BIN, startClientProc, startProxyProc, type ProxyProc } from '../src/procs.js';
import { Prometheus } from '../src/prometheus.js';
import { waitRegistered } from '../src/proxy-api.js';

const CLIENTS = 10;
const FQDNS = Array.from({ length: CLIENTS }, (_, i) => `127.0.0.${11 + i}`);
const JOB = 'drill';
const SCRAPE_TIMEOUT_MS = 1500;
/** scrape_interval below. */
const SCRAPE_INTERVAL_MS = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

after(() => killAll());

/** One exporter per FQDN, all on the same port (one per host, as node_exporter). */
async function exporters(t: TestContext): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort(FQDNS[0]);
    const started: TestExporter[] = [];
    try {
      for (const host of FQDNS) started.push(await startExporter({ host, port }));
      t.after(() => Promise.all(started.map((e) => e.close())));
      return port;
    } catch (err) {
      await Promise.all(started.map((e) => e.close()));
      if (attempt >= 5) throw err;
    }
  }
}

async function prometheus(t: TestContext, proxyPort: number, exporterPort: number): Promise<Prometheus> {
  const prom = await Prometheus.start(`global:
  scrape_interval: 2s
  scrape_timeout: ${SCRAPE_TIMEOUT_MS}ms
scrape_configs:
  - job_name: ${JOB}
    proxy_url: http://127.0.0.1:${proxyPort}/
    static_configs:
      - targets: [${FQDNS.map((f) => `'${f}:${exporterPort}'`).join(', ')}]
`);
  t.after(() => prom.stop());
  return prom;
}

function clients(t: TestContext, proxyUrl: string): Proc[] {
  // Default retry flags: the fast retries and the handover are what is drilled.
  const procs = FQDNS.map((f, i) => startClientProc(proxyUrl, f, i % 2 === 0 ? [] : ['--no-proxy.channel']));
  t.after(() => Promise.all(procs.map((p) => p.stop('SIGKILL'))));
  return procs;
}

/** A proxy on a fixed port, our CLIENTS registered with it, and Prometheus scraping them all up. */
async function proxyRig(t: TestContext): Promise<{ listen: string; proxy: ProxyProc; prom: Prometheus }> {
  const exporterPort = await exporters(t);
  const port = await freePort();
  const listen = `--web.listen-address=127.0.0.1:${port}`;
  const proxy = await startProxyProc([listen]);
  t.after(() => proxy.stop('SIGKILL'));
  clients(t, proxy.url);
  await waitRegistered(proxy.url, FQDNS, { timeoutMs: 30_000 });
  const prom = await prometheus(t, port, exporterPort);
  await allUpSince(prom, JOB, CLIENTS, Date.now(), 30_000);
  return { listen, proxy, prom };
}

const worst = (failed: Map<string, number>): number => Math.max(0, ...failed.values());
const total = (failed: Map<string, number>): number => [...failed.values()].reduce((a, b) => a + b, 0);

describe('restart drills with a real Prometheus', { timeout: 240_000 }, () => {
  test('proxy SIGTERM and immediate restart: at most one failed scrape per target, clients back within about a second', { timeout: 90_000 }, async (t) => {
    if (!requireBinaries(t, 'prometheus')) return;
    const rig = await proxyRig(t);
    let proxy = rig.proxy;
    t.after(() => proxy.stop('SIGKILL'));
    const { listen, prom } = rig;

    const t0 = Date.now();
    await proxy.stop('SIGTERM');
    proxy = await startProxyProc([listen]);
    const listening = Date.now();
    await waitRegistered(proxy.url, FQDNS, { timeoutMs: 10_000 });
    const backMs = Date.now() - listening;
    const upMs = await allUpSince(prom, JOB, CLIENTS, listening, 20_000);
    await sleep(4_500);
    const failed = await failedScrapes(prom, JOB, t0);
    t.diagnostic(`SIGTERM drill: down ${listening - t0} ms; clients back ${backMs} ms after listening; all targets up ${upMs} ms later; failed scrapes ${total(failed)} (worst target ${worst(failed)})`);
    assert.equal(failed.size, CLIENTS);
    assert.ok(worst(failed) <= 1, `at most one failed scrape per target: ${JSON.stringify([...failed])}`);
    assert.ok(backMs < 2_000, `clients back ${backMs} ms after the proxy listened`);
  });

  test('proxy kill -9, back 5 s later: every client back within about a second, at most one failed scrape per target after', { timeout: 90_000 }, async (t) => {
    if (!requireBinaries(t, 'prometheus')) return;
    const rig = await proxyRig(t);
    let proxy = rig.proxy;
    t.after(() => proxy.stop('SIGKILL'));
    const { listen, prom } = rig;

    await proxy.stop('SIGKILL');
    await sleep(5_000);
    proxy = await startProxyProc([listen]);
    const listening = Date.now();
    await waitRegistered(proxy.url, FQDNS, { timeoutMs: 15_000 });
    const backMs = Date.now() - listening;
    const upMs = await allUpSince(prom, JOB, CLIENTS, listening, 20_000);
    await sleep(4_500);
    const failed = await failedScrapes(prom, JOB, listening);
    t.diagnostic(`kill -9 drill: clients back ${backMs} ms after listening; all targets up ${upMs} ms later; failed scrapes after listening ${total(failed)} (worst target ${worst(failed)})`);
    assert.ok(worst(failed) <= 1, `at most one failed scrape per target after the proxy is back: ${JSON.stringify([...failed])}`);
    assert.ok(backMs < 2_000, `clients back ${backMs} ms after the proxy listened`);
  });

  test('socket activation (--web.systemd-socket), SIGTERM and restart: no failed scrape when the restart is shorter than the scrape timeout', { timeout: 90_000 }, async (t) => {
    if (!requireBinaries(t, 'prometheus', 'systemdSocketActivate')) return;
    const exporterPort = await exporters(t);
    const port = await freePort();
    const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-drill-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // As a supervisor that restarts the service at once while systemd keeps the socket (fd 3
    // stays open in this loop); each proxy gets its own LISTEN_PID, as systemd sets it.
    const loop = path.join(dir, 'supervise.sh');
    writeFileSync(loop, `while :; do\n  sh -c 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"' sh "$@"\n  sleep 0.05\ndone\n`);
    const holder = new Proc('systemd-socket-activate', BINARIES.systemdSocketActivate, [
      '-l', `127.0.0.1:${port}`, '--fdname=web', '--', '/bin/sh', loop, process.execPath, PROXY_BIN, '--web.systemd-socket',
    ]);
    // The holder execs the loop, which is then the proxy's parent: stop both, loop first.
    const proxyPid = (): number => {
      const pids = childrenOf(holder.pid);
      assert.equal(pids.length, 1, `one proxy under the supervisor, got ${pids.join(', ')}:\n${holder.output}`);
      return pids[0]!;
    };
    t.after(async () => {
      const kids = childrenOf(holder.pid);
      await holder.stop('SIGKILL');
      for (const pid of kids) process.kill(pid, 'SIGKILL');
    });
    await waitListening('127.0.0.1', port);
    await holder.waitFor(/msg=Listening .*systemd_socket=web/);
    const url = `http://127.0.0.1:${port}`;
    clients(t, url);
    await waitRegistered(url, FQDNS, { timeoutMs: 30_000 });
    const prom = await prometheus(t, port, exporterPort);
    await allUpSince(prom, JOB, CLIENTS, Date.now(), 30_000);

    for (let round = 0; round < 2; round++) {
      const t0 = Date.now();
      const listened = holder.output.split('msg=Listening').length;
      process.kill(proxyPid(), 'SIGTERM');
      while (holder.output.split('msg=Listening').length === listened) {
        if (Date.now() - t0 > 20_000) throw new Error(`no new proxy within 20 s:\n${holder.output}`);
        await sleep(10);
      }
      const listening = Date.now();
      await waitRegistered(url, FQDNS, { timeoutMs: 10_000 });
      const backMs = Date.now() - listening;
      const upMs = await allUpSince(prom, JOB, CLIENTS, listening, 20_000);
      await sleep(4_500);
      const failed = await failedScrapes(prom, JOB, t0);
      const restartMs = listening - t0;
      t.diagnostic(`socket-activation drill ${round}: restart ${restartMs} ms; clients back ${backMs} ms after listening; all targets up ${upMs} ms later; failed scrapes ${total(failed)}`);
      // A scrape waits in the backlog only until its own timeout: a restart longer than that
      // (a start slowed down by a loaded machine) may still fail the scrapes it spans, one per interval.
      const spanned = Math.ceil(restartMs / SCRAPE_INTERVAL_MS);
      if (restartMs < SCRAPE_TIMEOUT_MS - 300) assert.equal(total(failed), 0, `no failed scrape with socket activation: ${JSON.stringify([...failed])}`);
      else assert.ok(worst(failed) <= spanned, `a restart of ${restartMs} ms fails at most the ${spanned} scrape(s) it spans: ${JSON.stringify([...failed])}`);
    }
  });
});
