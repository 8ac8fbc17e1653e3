/**
 * What Prometheus sees when a scrape's response cannot be delivered whole: an
 * exporter whose body breaks, and a response over the proxy's
 * --push.max-body-size. A real proxy (a child process, so a crash shows) and
 * a real client on loopback; exporters write raw bytes; Prometheus is a raw
 * absolute-form scrape through the proxy.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { readResponse } from '@pushprox/shared';
import { startClient, type RunningClient } from '../src/index.js';
import { FQDN, recordingLogger, testConfig, waitFor, waitForAsync, withTimeout, type LogLine } from './helpers.js';

const PROXY_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'proxy', 'bin', 'pushprox-proxy.js');
const SCRAPE_TIMEOUT_S = 20;

interface ProxyProc {
  readonly child: ChildProcess;
  readonly port: number;
  output(): string;
}

async function startProxyProc(t: TestContext, args: readonly string[]): Promise<ProxyProc> {
  const child = spawn(process.execPath, [PROXY_BIN, '--web.listen-address=127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  await waitFor(() => /msg=Listening address=127\.0\.0\.1:\d+/.test(out) || child.exitCode !== null, 10_000, 'the proxy to listen');
  const m = /msg=Listening address=127\.0\.0\.1:(\d+)/.exec(out);
  if (!m) throw new Error(`the proxy did not start:\n${out}`);
  return { child, port: Number(m[1]), output: () => out };
}

/** An exporter that answers every request with `bytes` and then closes the connection. */
async function rawExporter(t: TestContext, bytes: Buffer): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.end(bytes));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

const GOOD_BODY = 'up 1\n';
const good = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${GOOD_BODY.length}\r\n\r\n${GOOD_BODY}`);

/** A scrape as Prometheus sends it through the proxy; resolves with status, reason, body and how long it took. */
async function scrape(proxyPort: number, exporterPort: number): Promise<{ status: number; reason: string; body: string; ms: number }> {
  const started = performance.now();
  const socket = net.connect({ host: '127.0.0.1', port: proxyPort });
  socket.on('error', () => {});
  const target = `http://${FQDN}:${exporterPort}/metrics`;
  socket.write(
    `GET ${target} HTTP/1.1\r\nHost: ${FQDN}:${exporterPort}\r\nX-Prometheus-Scrape-Timeout-Seconds: ${SCRAPE_TIMEOUT_S}\r\nConnection: close\r\n\r\n`,
  );
  try {
    return await withTimeout(
      (async () => {
        const { head, body } = await readResponse(socket);
        const parts: Buffer[] = [];
        for await (const c of body) parts.push(c as Buffer);
        return { status: head.status, reason: head.reason, body: Buffer.concat(parts).toString(), ms: performance.now() - started };
      })(),
      (SCRAPE_TIMEOUT_S + 10) * 1000,
      `the scrape of ${target}`,
    );
  } finally {
    socket.destroy();
  }
}

async function proxyChannels(proxyPort: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${proxyPort}/metrics`);
  const m = /^pushprox_proxy_channels (\d+)$/m.exec(await res.text());
  return Number(m?.[1]);
}

async function startRig(t: TestContext, channel: boolean, proxyArgs: readonly string[] = []) {
  const proxy = await startProxyProc(t, proxyArgs);
  const lines: LogLine[] = [];
  const client: RunningClient = await startClient(testConfig(`http://127.0.0.1:${proxy.port}`, { channel }), {
    logger: recordingLogger(lines, true),
    env: {},
  });
  t.after(() => client.stop());
  if (channel) await waitFor(() => client.pollMode === 'channel', 10_000, 'the client to open its channel');
  const goodPort = await rawExporter(t, good);
  for (let i = 0; i < 2; i++) {
    const ok = await scrape(proxy.port, goodPort);
    assert.equal(ok.status, 200, ok.body);
  }
  // A scrape on the only channel opens a second one (for a parallel scrape): let that settle.
  if (channel) await waitForAsync(async () => (await proxyChannels(proxy.port)) === opened(lines), 10_000, 'the channels to settle');
  return { proxy, client, lines, goodPort };
}

const opened = (lines: readonly LogLine[]) => lines.filter((l) => l.msg === 'Channel opened').length;
const closedLines = (lines: readonly LogLine[]) => lines.filter((l) => l.msg === 'Channel closed');

const BROKEN: ReadonlyArray<{ name: string; bytes: Buffer; cause: RegExp; status: number }> = [
  {
    // Over 64 KiB: the client streams it, so the push is under way when the body breaks (ABORT).
    name: 'Content-Length 100000, 400 bytes sent',
    bytes: Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(400)}`),
    cause: /the exporter's body ended after 400 of 100000 bytes/,
    status: 502,
  },
  {
    // 64 KiB or less: read whole first, so the failure is known before any push (an error push).
    name: 'Content-Length 1000, 400 bytes sent',
    bytes: Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(400)}`),
    cause: /the exporter's body ended after 400 of 1000 bytes/,
    status: 500,
  },
  {
    name: 'bad chunked encoding after the first chunk',
    bytes: Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n'),
    cause: /the exporter's chunked body broke after 5 bytes: .*chunk/,
    status: 502,
  },
  {
    // Broken before any body byte: an error push on either transport.
    name: 'bad chunked encoding at the first chunk',
    bytes: Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'),
    cause: /the exporter's chunked body broke after 0 bytes: .*chunk/,
    status: 500,
  },
];

for (const c of BROKEN) {
  test(`channel: an exporter body that breaks (${c.name}) gets Prometheus the cause at once, and the channel stays`, { timeout: 60_000 }, async (t) => {
    const { proxy, lines, goodPort } = await startRig(t, true);
    const openedBefore = opened(lines);
    const channelsBefore = await proxyChannels(proxy.port);
    assert.ok(channelsBefore >= 1);
    const broken = await rawExporter(t, c.bytes);
    for (let i = 0; i < 2; i++) {
      const got = await scrape(proxy.port, broken);
      assert.equal(got.status, c.status, got.body);
      assert.match(got.body, c.cause);
      assert.doesNotMatch(got.body, /channel closed/);
      assert.ok(got.ms < (SCRAPE_TIMEOUT_S * 1000) / 4, `the scrape took ${Math.round(got.ms)} ms (timeout ${SCRAPE_TIMEOUT_S} s)`);
      t.diagnostic(`${got.status} after ${Math.round(got.ms)} ms: ${got.body.trim()}`);
      const next = await scrape(proxy.port, goodPort);
      assert.equal(next.status, 200, next.body);
      assert.equal(next.body, GOOD_BODY);
    }
    assert.equal(await proxyChannels(proxy.port), channelsBefore);
    assert.equal(opened(lines), openedBefore, 'no channel was opened again');
    assert.deepEqual(closedLines(lines), []);
    assert.equal(proxy.child.exitCode, null);
  });
}

test('channel: a large exporter body that breaks after the proxy began relaying it is cut for Prometheus, and the channel stays', { timeout: 60_000 }, async (t) => {
  const { proxy, lines, goodPort } = await startRig(t, true);
  const openedBefore = opened(lines);
  const channelsBefore = await proxyChannels(proxy.port);
  const chunk = 'm'.repeat(16 * 1024);
  const chunks = Array.from({ length: 8 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('');
  const broken = await rawExporter(t, Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}zz\r\n`));
  await assert.rejects(scrape(proxy.port, broken), 'a 200 whose body is cut, never a complete answer');
  const next = await scrape(proxy.port, goodPort);
  assert.equal(next.status, 200, next.body);
  assert.equal(await proxyChannels(proxy.port), channelsBefore);
  assert.equal(opened(lines), openedBefore, 'no channel was opened again');
  assert.deepEqual(closedLines(lines), []);
  assert.match(proxy.output(), /msg="Push aborted by the client" err="the exporter's chunked body broke after 131072 bytes/);
});

for (const c of BROKEN.filter((b) => b.status === 500)) {
  test(`polling: an exporter body that breaks before any of it is pushed (${c.name}) gets Prometheus the same cause`, { timeout: 60_000 }, async (t) => {
    const { proxy, goodPort } = await startRig(t, false);
    const broken = await rawExporter(t, c.bytes);
    const got = await scrape(proxy.port, broken);
    assert.equal(got.status, c.status, got.body);
    assert.match(got.body, c.cause);
    assert.ok(got.ms < (SCRAPE_TIMEOUT_S * 1000) / 4, `the scrape took ${Math.round(got.ms)} ms`);
    t.diagnostic(`${got.status} after ${Math.round(got.ms)} ms: ${got.body.trim()}`);
    assert.equal((await scrape(proxy.port, goodPort)).status, 200);
  });
}

const BIG = 200 * 1024;
const bigResponse = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${BIG}\r\n\r\n`), Buffer.alloc(BIG, 'b')]);

for (const channel of [true, false]) {
  test(`${channel ? 'channel' : 'polling'}: a response over the proxy's --push.max-body-size fails the scrape at once with a reason naming the limit`, { timeout: 60_000 }, async (t) => {
    const { proxy, goodPort } = await startRig(t, channel, ['--push.max-body-size=64KB']);
    const big = await rawExporter(t, bigResponse);
    const got = await scrape(proxy.port, big);
    assert.ok(got.status >= 400, `status ${got.status}`);
    assert.match(got.body, /--push\.max-body-size \(65536 bytes\)/);
    assert.doesNotMatch(got.body, /deadline|timeout|channel closed/i);
    t.diagnostic(`${got.status} after ${Math.round(got.ms)} ms: ${got.body.trim()}`);
    assert.ok(got.ms < (SCRAPE_TIMEOUT_S * 1000) / 4, `the scrape took ${Math.round(got.ms)} ms (timeout ${SCRAPE_TIMEOUT_S} s)`);
    // The client goes on: a refused channel is replaced, a refused push is just that scrape.
    const next = await scrape(proxy.port, goodPort);
    assert.equal(next.status, 200, next.body);
    assert.equal(proxy.child.exitCode, null);
  });
}
