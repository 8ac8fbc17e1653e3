import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { clientHello, openConn, strike, type Conn } from './chaos-peers.js';
import { describeDescriptors, PROXY_MAIN, spawnProxy, type ProxyProcess } from '../proxy-process.js';

/**
 * Descriptors of TLS connections reset by their peer come back at once.
 *
 * TLS handshakes reset by their peer on the split client listener
 * (--web.client-listen-address) give their descriptor back at once: the
 * chaos test once saw one or two of them held 20-30 s. Three orderings of
 * the reset against the proxy's work, each at sampled offsets of a real
 * ClientHello: the RST while the proxy runs; the bytes and the RST both
 * queued before the proxy accepts or reads (the proxy stopped with SIGSTOP,
 * as a loaded machine delays it); the RST after the proxy sent its first
 * flight and waits for the client's Finished.
 */

/** Longer than the handshake timeout (--web.read-header-timeout) and a loaded machine's delay, far shorter than 20 s. */
const SETTLE_MS = 2_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every 16th offset of the ClientHello, and the complete message. */
function offsets(length: number): number[] {
  return Array.from({ length: length + 1 }, (_, i) => i).filter((i) => i % 16 === 0 || i === length);
}

/** Resolves once the proxy sent its first bytes on `conn` (its ServerHello), or after 2 s. */
function firstAnswer(conn: Conn): Promise<void> {
  if (conn.received().length > 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 2_000);
    conn.raw.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Fails unless the proxy holds no more than `baseline` descriptors within SETTLE_MS, naming those it holds. */
async function settled(p: ProxyProcess, baseline: number, after: string): Promise<number> {
  const started = performance.now();
  while (p.fds() > baseline && performance.now() - started < SETTLE_MS) await sleep(20);
  const held = p.fds();
  if (held > baseline) assert.fail(`${after}: the proxy held ${held} descriptors ${SETTLE_MS} ms later, ${baseline} before:\n${describeDescriptors(p.pid)}`);
  return performance.now() - started;
}

/** A proxy with TLS on both listeners (split); removed with the test. */
async function tlsProxy(t: { after(fn: () => unknown): void }): Promise<ProxyProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-tls-descriptors-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync(process.execPath, [PROXY_MAIN, 'pki', 'init', `--pki.dir=${dir}/pki`, '--pki.san=IP:127.0.0.1'], { stdio: 'ignore', timeout: 60_000 });
  writeFileSync(`${dir}/web.yml`, `tls_server_config:\n  cert_file: ${dir}/pki/server.crt\n  key_file: ${dir}/pki/server.key\n`);
  const p = await spawnProxy(['--web.read-header-timeout=500ms', `--web.config.file=${dir}/web.yml`], { clientListener: true });
  t.after(() => p.stop());
  return p;
}

test('a CONNECT followed by more bytes and a FIN over TLS, then reset by its sender, gives its descriptor back at once (it was held for good)', { timeout: 60_000 }, async (t) => {
  const p = await tlsProxy(t);
  await sleep(200);
  const baseline = p.fds();
  const connect = Buffer.from('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
  for (const port of [p.port, p.clientPort]) {
    const conns = await Promise.all(Array.from({ length: 8 }, () => openConn(port, true)));
    await Promise.all(conns.map((c) => strike(c, connect, connect.length, 'garbage')));
    await Promise.all(conns.map((c) => c.closed));
    for (const c of conns) assert.match(c.received(), /^HTTP\/1\.1 501 CONNECT not supported/, 'the CONNECT was answered before the close');
    await settled(p, baseline, `CONNECT and garbage on port ${port}`);
  }
  assert.equal(p.exited(), undefined);
});

test('TLS handshakes reset at any offset on the split client listener give their descriptor back within 2 s, however the reset and the proxy interleave', { timeout: 120_000 }, async (t) => {
  const p = await tlsProxy(t);
  const hello = await clientHello();
  const cases = offsets(hello.length);
  await sleep(200);
  const baseline = p.fds();
  const open = (): Promise<Conn[]> => Promise.all(cases.map(() => openConn(p.clientPort, false)));
  const allClosed = (conns: Conn[]) => Promise.all(conns.map((c) => c.closed));
  const reset = (c: Conn): void => {
    if (!c.raw.destroyed) (c.raw as net.Socket).resetAndDestroy();
  };
  const took: string[] = [];

  for (let round = 0; round < 3; round++) {
    let conns = await open();
    await Promise.all(conns.map((c, i) => strike(c, hello, cases[i]!, 'reset')));
    await allClosed(conns);
    took.push(`running ${(await settled(p, baseline, `round ${round}: RST while the proxy runs`)).toFixed(0)} ms`);

    // Both the bytes and the RST wait in the kernel until the proxy runs again.
    conns = await open();
    process.kill(p.pid, 'SIGSTOP');
    try {
      await Promise.all(conns.map((c, i) => strike(c, hello, cases[i]!, 'reset')));
      await allClosed(conns);
      await sleep(100);
    } finally {
      process.kill(p.pid, 'SIGCONT');
    }
    took.push(`queued ${(await settled(p, baseline, `round ${round}: RST queued before the proxy read`)).toFixed(0)} ms`);

    // The complete ClientHello, the proxy's first flight, then the RST instead of the client's Finished.
    conns = await Promise.all(Array.from({ length: 16 }, () => openConn(p.clientPort, false)));
    await Promise.all(conns.map((c) => strike(c, hello, hello.length, 'stall')));
    await Promise.all(conns.map(firstAnswer));
    assert.ok(conns.every((c) => c.received().length > 0), 'the proxy answered every complete ClientHello');
    for (const c of conns) reset(c);
    await allClosed(conns);
    took.push(`answered ${(await settled(p, baseline, `round ${round}: RST after the proxy's first flight`)).toFixed(0)} ms`);
  }
  assert.equal(p.exited(), undefined, `the proxy exited:\n${p.log().slice(-3000)}`);
  t.diagnostic(`descriptors back after: ${took.join(', ')}`);
});
