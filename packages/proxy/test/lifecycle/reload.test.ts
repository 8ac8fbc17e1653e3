import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import bcrypt from 'bcryptjs';
import { silentLogger } from '@pushprox/shared';
import { startProxy } from '../../src/listeners/server.js';
import { TEST_CONFIG, exchange, sleep } from '../helpers.js';
import { spawnProxy, type ProxyProcess } from '../proxy-process.js';
import { haveOpenssl, makeCerts } from '../certs.js';

const req = (port: number, method: string, target: string, extra = '') =>
  exchange(port, `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}${method === 'POST' || method === 'PUT' ? 'Content-Length: 0\r\n' : ''}\r\n`);
const basic = (user: string, pass: string) => `Authorization: Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}\r\n`;
const poll = (port: number, token: string) =>
  exchange(port, `POST /poll HTTP/1.1\r\nHost: p\r\nX-Pushprox-Poll-Capacity: 1\r\nX-Pushprox-Hello: 1\r\nAuthorization: Bearer ${token}\r\nContent-Length: 14\r\n\r\nhost-a.example`);

test('/-/healthy, /-/ready and /-/reload answer with Prometheus\' codes and texts; /-/reload is 403 without --web.enable-lifecycle', async () => {
  const proxy = await startProxy(TEST_CONFIG, { logger: silentLogger });
  try {
    const port = proxy.address.port;
    const cases: Array<[string, string, number, string]> = [
      ['GET', '/-/healthy', 200, 'PushProx Proxy is Healthy.\n'],
      ['GET', '/-/ready', 200, 'PushProx Proxy is Ready.\n'],
      ['POST', '/-/healthy', 405, 'Method Not Allowed\n'],
      ['GET', '/-/reload', 405, 'Only POST or PUT requests allowed'],
      ['POST', '/-/reload', 403, 'Lifecycle API is not enabled.'],
      ['PUT', '/-/reload', 403, 'Lifecycle API is not enabled.'],
    ];
    for (const [method, target, status, body] of cases) {
      const r = await req(port, method, target);
      assert.deepEqual([r.head.status, r.body.toString()], [status, body], `${method} ${target}`);
    }
  } finally {
    await proxy.close();
  }
});

async function gauge(port: number, auth: string): Promise<number> {
  const text = (await req(port, 'GET', '/metrics', auth)).body.toString();
  const m = /^pushprox_proxy_config_last_reload_successful (\d+)$/m.exec(text);
  assert.ok(m, 'the reload gauge is exported');
  return Number(m[1]);
}

async function untilLog(proxy: ProxyProcess, re: RegExp): Promise<void> {
  for (const end = Date.now() + 5000; !re.test(proxy.log()); await sleep(20)) {
    if (Date.now() > end) throw new Error(`expected a log line matching ${re}, got:\n${proxy.log()}`);
  }
}

test('SIGHUP and POST /-/reload re-read basic_auth_users and client tokens; a bad file keeps the old settings, logs and clears the gauge', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const web = path.join(dir, 'web.yml');
  const tokens = path.join(dir, 'tokens');
  writeFileSync(web, `basic_auth_users:\n  alice: ${bcrypt.hashSync('old-pass', 4)}\n`);
  writeFileSync(tokens, 'token-one-0123456789\n');
  const proxy = await spawnProxy([`--web.config.file=${web}`, `--client.token-file=${tokens}`, '--web.enable-lifecycle', '--log.level=info']);
  t.after(() => proxy.stop());
  const port = proxy.port;
  const oldAuth = basic('alice', 'old-pass');
  const newAuth = basic('bob', 'new-pass');
  assert.equal((await req(port, 'GET', '/clients', oldAuth)).head.status, 200);
  assert.equal((await poll(port, 'token-one-0123456789')).head.status, 204);
  assert.equal(await gauge(port, oldAuth), 1);

  writeFileSync(web, `basic_auth_users:\n  bob: ${bcrypt.hashSync('new-pass', 4)}\n`);
  writeFileSync(tokens, 'token-two-0123456789\n');
  process.kill(proxy.pid, 'SIGHUP');
  await untilLog(proxy, /Completed loading of configuration files/);
  assert.equal((await req(port, 'GET', '/clients', oldAuth)).head.status, 401, 'the removed user is refused');
  assert.equal((await req(port, 'GET', '/clients', newAuth)).head.status, 200);
  assert.equal((await poll(port, 'token-one-0123456789')).head.status, 401, 'the removed token is refused');
  assert.equal((await poll(port, 'token-two-0123456789')).head.status, 204);

  writeFileSync(web, 'basic_auth_users: [not, a, map\n');
  process.kill(proxy.pid, 'SIGHUP');
  await untilLog(proxy, /Error reloading config; the previous settings stay in use/);
  assert.equal(proxy.exited(), undefined, 'a bad file does not stop the proxy');
  assert.equal((await req(port, 'GET', '/clients', newAuth)).head.status, 200, 'the previous users stay');
  assert.equal(await gauge(port, newAuth), 0);
  const failed = await req(port, 'POST', '/-/reload', newAuth);
  assert.equal(failed.head.status, 500);
  assert.match(failed.body.toString(), /^failed to reload config: --web.config.file .*web\.yml/);
  assert.equal((await req(port, 'POST', '/-/reload')).head.status, 401, '/-/reload needs the credentials /clients needs');
  const status = JSON.parse((await req(port, 'GET', '/api/v1/status', newAuth)).body.toString());
  assert.equal(status.data.reload.lastSuccessful, false);
  assert.match(status.data.reload.lastError, /web\.yml/);

  writeFileSync(web, `basic_auth_users:\n  bob: ${bcrypt.hashSync('new-pass', 4)}\n`);
  const ok = await req(port, 'PUT', '/-/reload', newAuth);
  assert.deepEqual([ok.head.status, ok.body.length], [200, 0]);
  assert.equal(await gauge(port, newAuth), 1);
});

test('SIGHUP swaps the TLS certificate for new connections; turning TLS off by reload is refused', async (t) => {
  if (!haveOpenssl()) return t.skip('needs /usr/bin/openssl');
  const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-reload-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const d of ['a', 'b']) {
    mkdirSync(path.join(dir, d));
    makeCerts(path.join(dir, d), []);
  }
  for (const f of ['server.crt', 'server.key']) copyFileSync(path.join(dir, 'a', f), path.join(dir, f));
  const web = path.join(dir, 'web.yml');
  writeFileSync(web, 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n');
  const proxy = await spawnProxy([`--web.config.file=${web}`]);
  t.after(() => proxy.stop());
  const served = () =>
    new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: proxy.port, rejectUnauthorized: false }, () => {
        resolve(s.getPeerCertificate().fingerprint256);
        s.destroy();
      });
      s.on('error', reject);
    });
  const { X509Certificate } = await import('node:crypto');
  const { readFileSync } = await import('node:fs');
  const fp = (d: string) => new X509Certificate(readFileSync(path.join(dir, d, 'server.crt'))).fingerprint256;
  assert.equal(await served(), fp('a'));
  for (const f of ['server.crt', 'server.key']) copyFileSync(path.join(dir, 'b', f), path.join(dir, f));
  process.kill(proxy.pid, 'SIGHUP');
  await untilLog(proxy, /Completed loading of configuration files/);
  assert.equal(await served(), fp('b'));

  writeFileSync(web, 'basic_auth_users: {}\n');
  process.kill(proxy.pid, 'SIGHUP');
  await untilLog(proxy, /turning TLS off needs a restart/);
  assert.equal(await served(), fp('b'), 'the listener keeps its TLS');
});
