import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { silentLogger } from '@pushprox/shared';
import { startProxy, type RunningProxy } from '../../src/listeners/server.js';
import { loadWebConfig } from '../../src/auth/web-config.js';
import { PLAIN_HTTP_ON_TLS_ANSWER } from '../../src/listeners/connection-guard.js';
import { TEST_CONFIG, connect } from '../helpers.js';
import { haveOpenssl, makeCerts } from '../certs.js';

/**
 * Plain HTTP to a TLS listener gets the answer Go's net/http gives (and so
 * upstream's proxy behind exporter-toolkit): a 400 that says the port speaks
 * TLS, not a silent reset.
 */

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'pushprox-plain-on-tls-'));
  if (haveOpenssl()) makeCerts(dir, ['host-a.example']);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `bytes` on a fresh TCP connection and collects everything until the proxy closes (bounded). */
async function rawExchange(port: number, bytes: string, timeoutMs = 5_000): Promise<string> {
  const socket = await connect(port);
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the proxy did not close within ${timeoutMs} ms; got ${JSON.stringify(got)}`));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    socket.write(bytes);
  });
}

async function withTlsProxy(fn: (proxy: RunningProxy) => Promise<void>): Promise<void> {
  writeFileSync(path.join(dir, 'web.yml'), 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n');
  const proxy = await startProxy(TEST_CONFIG, { logger: silentLogger, web: loadWebConfig(path.join(dir, 'web.yml')) });
  try {
    await fn(proxy);
  } finally {
    await proxy.close();
  }
}

test('plain HTTP to a TLS port gets Go\'s 400 "Client sent an HTTP request to an HTTPS server."', async (t) => {
  if (!haveOpenssl()) return t.skip('needs /usr/bin/openssl');
  await withTlsProxy(async (proxy) => {
    const port = proxy.address.port;
    for (const request of [
      'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n',
      'POST /poll HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\nhost-a.example',
      'GET http://host-a.example:9100/metrics HTTP/1.1\r\nHost: host-a.example:9100\r\n\r\n',
      'CONNECT host-a.example:443 HTTP/1.1\r\nHost: host-a.example:443\r\n\r\n',
    ]) {
      assert.equal(await rawExchange(port, request), PLAIN_HTTP_ON_TLS_ANSWER, request.split('\r\n')[0]);
    }
    assert.equal(PLAIN_HTTP_ON_TLS_ANSWER, 'HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n');
    // A broken TLS record is not HTTP: it gets at most a TLS alert, never the HTTP answer; TLS keeps working afterwards.
    assert.doesNotMatch(await rawExchange(port, '\x16\x03\x01\x00\x05hello'), /HTTP/);
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port, path: '/clients', ca: readFileSync(path.join(dir, 'ca.crt')), agent: false, timeout: 5_000 }, (res) => {
        buffer(res).then(() => resolve(res.statusCode!), reject);
      });
      req.on('timeout', () => req.destroy(new Error('no answer over TLS within 5 s')));
      req.on('error', reject);
    });
    assert.equal(status, 200);
  });
});

test('many plain-HTTP connections at once to a TLS port are each answered and closed; the proxy stays up', async (t) => {
  if (!haveOpenssl()) return t.skip('needs /usr/bin/openssl');
  await withTlsProxy(async (proxy) => {
    const answers = await Promise.all(Array.from({ length: 50 }, () => rawExchange(proxy.address.port, 'GET / HTTP/1.1\r\n\r\n', 10_000)));
    assert.equal(answers.filter((a) => a === PLAIN_HTTP_ON_TLS_ANSWER).length, 50);
    // A peer that sends the request line and resets at once must not hurt the process either.
    for (let i = 0; i < 20; i++) {
      const s = await connect(proxy.address.port);
      s.on('error', () => undefined);
      s.write('GET / HTTP/1.1\r\n\r\n');
      s.resetAndDestroy();
    }
    assert.equal(await rawExchange(proxy.address.port, 'GET / HTTP/1.1\r\n\r\n'), PLAIN_HTTP_ON_TLS_ANSWER);
  });
});
