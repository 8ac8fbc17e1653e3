import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { delay, FakeProxy, FQDN, METRICS_TEXT, scrapeRequest, startExporter, waitFor, withTimeout } from './helpers.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'pushprox-client.js');

interface Spawned {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  stderr(): string;
}

/** Starts the real client; the test's t.after kills it by PID if it is still running. */
function spawnClient(t: { after(fn: () => void): void }, args: string[], nodeFlags: string[] = []): Spawned {
  const child = spawn(process.execPath, [...nodeFlags, BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() }));
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  });
  return { child, exited, stderr: () => stderr };
}

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

// README and docs/operations.md (Signals): SIGTERM (systemctl stop) and SIGINT (Ctrl-C) both stop the client gracefully.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} with a scrape in flight: its push still arrives and the process exits 0 without waiting for --shutdown.timeout`, { timeout: 60_000 }, async (t) => {
    const proxy = await FakeProxy.start('upstream');
    t.after(() => proxy.close());
    const exporter = await startExporter((_req, res) => {
      const timer = setTimeout(() => res.end(METRICS_TEXT), 1000);
      res.on('close', () => clearTimeout(timer));
    });
    t.after(() => exporter.close());
    const client = spawnClient(t, [`--proxy-url=${proxy.url}`, `--fqdn=${FQDN}`, '--metrics-addr=', '--shutdown.timeout=30s']);

    await waitFor(() => proxy.held.length === 1, 10_000, 'first poll').catch((e: Error) => assert.fail(`${e.message}\n${client.stderr()}`));
    const { bytes, id } = scrapeRequest({ target: `http://${FQDN}:${exporter.port}/metrics` });
    proxy.scrape(bytes);
    await waitFor(() => exporter.requests.length === 1, 5000, 'scrape at the exporter');
    const signalledAt = performance.now();
    client.child.kill(signal);

    const push = await proxy.waitPush(id, 20_000);
    assert.equal(push.parsed.head.status, 200);
    assert.equal(push.parsed.body.toString(), METRICS_TEXT);
    const exit = await withTimeout(client.exited, 20_000, 'client exit');
    assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, client.stderr());
    assert.ok(exit.at >= push.at, 'exited before the push');
    // The side that matters: it exits once the scrape is done, not at the 30 s --shutdown.timeout.
    // The scrape itself takes 1 s; 15 s leaves a loaded 2-core machine 14 s of slack and still
    // fails a client that waits for the timeout.
    const took = exit.at - signalledAt;
    assert.ok(took < 15_000, `exit took ${took.toFixed(0)} ms (--shutdown.timeout=30s)`);
    assert.match(client.stderr(), new RegExp(`msg="Shutting down" signal=${signal}`));
    assert.match(client.stderr(), /level=info msg="URL and FQDN info" proxy_url=http:\/\/127\.0\.0\.1:\d+\/ fqdn=127\.0\.0\.1/);
  });
}

test('SIGTERM with a hung scrape: exits 0 once --shutdown.timeout has passed, not before', { timeout: 60_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const exporter = await startExporter(() => {});
  t.after(() => exporter.close());
  const client = spawnClient(t, [`--proxy-url=${proxy.url}`, `--fqdn=${FQDN}`, '--metrics-addr=', '--shutdown.timeout=1s']);
  await waitFor(() => proxy.held.length === 1, 10_000, 'first poll').catch((e: Error) => assert.fail(`${e.message}\n${client.stderr()}`));
  proxy.scrape(scrapeRequest({ target: `http://${FQDN}:${exporter.port}/metrics`, timeoutSeconds: '60' }).bytes);
  await waitFor(() => exporter.requests.length === 1, 5000, 'scrape at the exporter');
  const signalledAt = performance.now();
  client.child.kill('SIGTERM');
  const exit = await withTimeout(client.exited, 30_000, 'client exit');
  assert.equal(exit.code, 0, client.stderr());
  const took = exit.at - signalledAt;
  // Not before the deadline: the client's timer starts after the signal was sent, so load can
  // only make `took` longer (10 ms allow for timer rounding). The upper bound only has to tell
  // the 1 s timeout from the scrape's 60 s: 20 s is slack no loaded machine needs.
  assert.ok(took >= 990, `exited ${took.toFixed(0)} ms after SIGTERM, before --shutdown.timeout=1s`);
  assert.ok(took < 20_000, `exit took ${took.toFixed(0)} ms`);
});

/**
 * Streaming check on the real process, two bounds:
 * - while the proxy reads nothing (1 s), the client must stay flat: a client
 *   that forwards without backpressure would take the whole body from the
 *   exporter in that time;
 * - over both transfers, growth stays under 30 MiB, which a client that reads
 *   the 50 MiB body before pushing cannot meet. (Without the BufferReclaimer,
 *   dead socket buffers alone add 25–40 MiB before V8 collects them.)
 */
test('a 50 MB scrape streams through: client RSS stays flat while the proxy stalls and grows by less than 30 MiB', { timeout: 60_000 }, async (t) => {
  const SIZE = 50 * 1024 * 1024;
  const MiB = 2 ** 20;
  const piece = Buffer.alloc(64 * 1024, 'x');
  const exporter = await startExporter((req, res) => {
    if (req.url === '/small') return void res.end(METRICS_TEXT);
    res.writeHead(200, req.url === '/length' ? { 'Content-Length': String(SIZE) } : {});
    let sent = 0;
    const pump = (): void => {
      while (sent < SIZE) {
        sent += piece.length;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  t.after(() => exporter.close());
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const STALL_MS = 1000;
  // Count push bytes without keeping them; stall at first.
  const pushed = new Map<string, { bytes: number; head: string; stalled: [number, number] }>();
  proxy.pushHandler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    let bytes = 0;
    let head = '';
    const stalled: [number, number] = [performance.now(), performance.now() + STALL_MS];
    req.pause();
    setTimeout(() => req.resume(), STALL_MS);
    req.on('data', (d: Buffer) => {
      if (bytes === 0) head = d.subarray(0, 2048).toString('latin1');
      bytes += d.length;
    });
    req.on('end', () => {
      const id = /\r\nId: ([^\r]+)\r\n/i.exec(head)?.[1] ?? '';
      pushed.set(id, { bytes, head, stalled });
      res.writeHead(200, { 'Content-Length': '0' }).end();
    });
  };
  const client = spawnClient(t, [`--proxy-url=${proxy.url}`, `--fqdn=${FQDN}`, '--metrics-addr=', '--scrape.concurrency=1']);
  const pid = client.child.pid!;
  await waitFor(() => proxy.held.length === 1, 10_000, 'first poll').catch((e: Error) => assert.fail(`${e.message}\n${client.stderr()}`));

  const samples: Array<[number, number]> = [];
  const sampler = setInterval(() => {
    try {
      samples.push([performance.now(), rssBytes(pid)]);
    } catch {
      // The process may be gone if the test already failed.
    }
  }, 10);
  t.after(() => clearInterval(sampler));
  const peakBetween = (from: number, to: number): number =>
    Math.max(0, ...samples.filter(([at]) => at >= from && at <= to).map(([, rss]) => rss));

  const scrape = async (p: string): Promise<{ bytes: number; head: string; stalled: [number, number] }> => {
    const { bytes, id } = scrapeRequest({ target: `http://${FQDN}:${exporter.port}${p}`, timeoutSeconds: '30' });
    await waitFor(() => proxy.held.length === 1, 5000, 'held poll');
    proxy.scrape(bytes);
    await waitFor(() => pushed.has(id), 30_000, `push of ${p}`);
    return pushed.get(id)!;
  };
  await scrape('/small');
  await delay(300);
  // Startup briefly peaks higher than the idle process: only later samples count.
  const baselineAt = performance.now();
  const baseline = rssBytes(pid);

  const withLength = await scrape('/length');
  assert.match(withLength.head, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(withLength.head, new RegExp(`\\r\\nContent-Length: ${SIZE}\\r\\n`, 'i'));
  assert.ok(withLength.bytes > SIZE && withLength.bytes < SIZE + 2048, `pushed ${withLength.bytes} bytes`);
  const chunked = await scrape('/chunked');
  assert.match(chunked.head, /\r\nTransfer-Encoding: chunked\r\n/i);
  assert.ok(chunked.bytes > SIZE, `pushed ${chunked.bytes} bytes`);
  clearInterval(sampler);

  // Growth within each stall, from the last sample before it began.
  const grownDuring = ([from, to]: [number, number]): number =>
    peakBetween(from, to) - (samples.filter(([at]) => at < from).at(-1)?.[1] ?? baseline);
  const stallGrowth = Math.max(grownDuring(withLength.stalled), grownDuring(chunked.stalled));
  const growth = peakBetween(baselineAt, Infinity) - baseline;
  t.diagnostic(`baseline RSS ${(baseline / MiB).toFixed(1)} MiB; growth while stalled ${(stallGrowth / MiB).toFixed(1)} MiB, overall ${(growth / MiB).toFixed(1)} MiB`);
  assert.ok(stallGrowth < 8 * MiB, `RSS grew by ${(stallGrowth / MiB).toFixed(1)} MiB while the proxy read nothing`);
  assert.ok(growth < 30 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
});
