import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { test } from 'node:test';
import { haveOpenssl, makeCerts } from '../certs.js';
import { spawnProxy, type ProxyProcess } from '../proxy-process.js';

/**
 * --web.read-header-timeout holds from the TCP accept to the end of the first
 * request head, TLS handshake included, on every listener shape.
 */

const HEAD_MS = 1_000;

interface Cut {
  readonly ms: number;
  readonly answer: string;
}

/** Connects (TCP, or TLS and waits for the handshake when `secure`), runs `drip`, and reads until the proxy closes. */
function held(port: number, secure: 'tcp' | 'tls', drip: (s: net.Socket) => void): Promise<Cut> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const s: net.Socket =
      secure === 'tls' ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => drip(s)) : net.connect({ host: '127.0.0.1', port }, () => drip(s));
    let answer = '';
    const giveUp = setTimeout(() => {
      s.destroy();
      reject(new Error(`the proxy still held the connection ${HEAD_MS * 10} ms later`));
    }, HEAD_MS * 10);
    s.on('data', (c: Buffer) => (answer += c.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(giveUp);
      resolve({ ms: performance.now() - started, answer });
    });
  });
}

/** Silent for 90% of the timeout, then a request line, then one header line every 30% of it. */
function lateDrip(s: net.Socket): void {
  let n = 0;
  let timer: NodeJS.Timeout | undefined;
  const first = setTimeout(() => {
    s.write('GET /clients HTTP/1.1\r\n');
    timer = setInterval(() => s.destroyed || s.write(`X-Slow-${n++}: 1\r\n`), HEAD_MS * 0.3);
  }, HEAD_MS * 0.9);
  s.on('close', () => {
    clearTimeout(first);
    clearInterval(timer);
  });
}

async function withCerts<T>(fn: (webConfig: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-head-'));
  try {
    makeCerts(dir, []);
    const file = path.join(dir, 'web.yml');
    writeFileSync(file, `tls_server_config:\n  cert_file: ${dir}/server.crt\n  key_file: ${dir}/server.key\n`);
    return await fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function withProxyProcess(args: string[], split: boolean, fn: (p: ProxyProcess) => Promise<void>): Promise<void> {
  const p = await spawnProxy([`--web.read-header-timeout=${HEAD_MS}ms`, ...args], { clientListener: split });
  try {
    await fn(p);
    assert.equal(p.exited(), undefined, p.log());
  } finally {
    await p.stop();
  }
}

for (const split of [false, true]) {
  const shape = split ? 'split listeners' : 'one listener';
  test(`regression (${shape}): a head dripped after a silence is cut at --web.read-header-timeout from the accept, with 408`, async () => {
    await withProxyProcess([], split, async (p) => {
      for (const port of split ? [p.port, p.clientPort] : [p.port]) {
        const cut = await held(port, 'tcp', lateDrip);
        assert.match(cut.answer, /^HTTP\/1\.1 408 /, `expected a 408 before the close, got ${JSON.stringify(cut.answer)}`);
        // Node alone cut it a whole timeout after the first byte (1.9 s here); slack for a loaded machine below that.
        assert.ok(cut.ms >= HEAD_MS * 0.9 && cut.ms < HEAD_MS * 1.6, `cut after ${Math.round(cut.ms)} ms for ${HEAD_MS} ms`);
      }
    });
  });

  test(`regression (${shape}, TLS): a connection that never sends a byte is closed at --web.read-header-timeout`, { skip: !haveOpenssl() && 'openssl absent' }, async () => {
    await withCerts(async (web) => {
      await withProxyProcess([`--web.config.file=${web}`], split, async (p) => {
        const before = p.fds();
        const silent = await Promise.all(Array.from({ length: 20 }, () => held(p.port, 'tcp', () => undefined)));
        for (const cut of silent) assert.ok(cut.ms < HEAD_MS * 3, `a silent TLS connection was held ${Math.round(cut.ms)} ms`);
        assert.ok(p.fds() <= before, `descriptors: ${p.fds()} after, ${before} before`);
      });
    });
  });

  test(`(${shape}, TLS) a head sent slowly after a prompt handshake gets 408 at the deadline from the accept`, { skip: !haveOpenssl() && 'openssl absent' }, async () => {
    await withCerts(async (web) => {
      await withProxyProcess([`--web.config.file=${web}`], split, async (p) => {
        const cut = await held(p.port, 'tls', lateDrip);
        assert.match(cut.answer, /^HTTP\/1\.1 408 /, `expected a 408, got ${JSON.stringify(cut.answer)}`);
        assert.ok(cut.ms < HEAD_MS * 1.6, `cut after ${Math.round(cut.ms)} ms for ${HEAD_MS} ms`);
      });
    });
  });
}

test('a request head sent at once is not cut by the deadline, and a kept-alive connection serves later requests past it', async () => {
  await withProxyProcess([], false, async (p) => {
    const s = net.connect({ host: '127.0.0.1', port: p.port });
    s.on('error', () => undefined);
    let got = '';
    s.on('data', (c: Buffer) => (got += c.toString('latin1')));
    await new Promise<void>((r) => s.on('connect', () => r()));
    s.write('GET /clients HTTP/1.1\r\nHost: p\r\n\r\n');
    await new Promise((r) => setTimeout(r, HEAD_MS * 1.6));
    s.write('GET /clients HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n');
    await new Promise<void>((r) => s.on('close', () => r()));
    assert.equal(got.match(/HTTP\/1\.1 200 /g)?.length, 2, `expected two 200s on one connection, got ${JSON.stringify(got.slice(0, 300))}`);
  });
});
