import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import bcrypt from 'bcryptjs';
import { silentLogger } from '@pushprox/shared';
import { startProxy, type RunningProxy } from '../../src/listeners/server.js';
import { loadWebConfig, WebConfigError } from '../../src/auth/web-config.js';
import { TEST_CONFIG, exchange } from '../helpers.js';
import { haveOpenssl, makeCerts } from '../certs.js';

let dir: string;
const f = (name: string) => path.join(dir, name);
const HASH = bcrypt.hashSync('s3cret', 4);

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'pushprox-webcfg-'));
  if (haveOpenssl()) makeCerts(dir, ['client']);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function writeConfig(name: string, yaml: string): string {
  writeFileSync(f(name), yaml);
  return f(name);
}

function throwsNaming(file: string, ...parts: RegExp[]) {
  assert.throws(
    () => loadWebConfig(file),
    (err: Error) => err instanceof WebConfigError && parts.every((p) => p.test(err.message)),
  );
}

test('web config: an unknown key, an unreadable file or a bad value is an error naming it', () => {
  throwsNaming(writeConfig('a.yml', 'tls_server_config:\n  cert_file: x\n  key_file: y\n  colour: blue\n'), /unknown key "tls_server_config\.colour"/);
  throwsNaming(writeConfig('b.yml', 'http_server_config:\n  http2: true\n'), /unknown key "http_server_config"/);
  throwsNaming(writeConfig('c.yml', 'tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n'), /tls_server_config\.cert_file/, /missing\.crt/);
  throwsNaming(writeConfig('d.yml', 'basic_auth_users:\n  alice: plaintext\n'), /basic_auth_users\.alice/, /bcrypt/);
  throwsNaming(writeConfig('e.yml', 'tls_server_config:\n  cert_file: x\n  key_file: y\n  client_auth_type: RequireAndVerifyClientCert\n'), /needs client_ca_file/);
  throwsNaming(writeConfig('g.yml', 'tls_server_config:\n  cert_file: x\n  key_file: y\n  min_version: TLS99\n'), /min_version/, /TLS99/);
  throwsNaming(path.join(dir, 'nope.yml'), /cannot read --web\.config\.file/);
  const ok = loadWebConfig(writeConfig('h.yml', `basic_auth_users:\n  alice: ${HASH}\n`));
  assert.equal(ok.users.get('alice'), HASH);
  assert.equal(ok.tls, undefined);
});

async function withWebProxy(yaml: string, fn: (p: RunningProxy) => Promise<void>) {
  const web = loadWebConfig(writeConfig(`p${Math.random()}.yml`, yaml));
  const proxy = await startProxy(TEST_CONFIG, { logger: silentLogger, web });
  try {
    await fn(proxy);
  } finally {
    await proxy.close();
  }
}

function tlsGet(port: number, pathOrUrl: string, opts: https.RequestOptions = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: pathOrUrl, ca: [readFileSync(f('ca.crt'))], agent: false, ...opts }, (res) => {
      buffer(res).then((b) => resolve({ status: res.statusCode!, body: b.toString(), headers: res.headers }), reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

test('basic_auth_users guard scrapes (407 + Proxy-Authenticate) and /clients, /metrics (401), not /poll', async () => {
  await withWebProxy(`basic_auth_users:\n  prometheus: ${HASH}\n`, async (proxy) => {
    const port = proxy.address.port;
    const scrape = (auth?: string) =>
      `GET http://host-a:9100/metrics HTTP/1.1\r\nHost: host-a:9100\r\n${auth ? `Proxy-Authorization: Basic ${Buffer.from(auth).toString('base64')}\r\n` : ''}\r\n`;
    const none = await exchange(port, scrape());
    assert.equal(none.head.status, 407);
    assert.equal(none.head.headers.get('Proxy-Authenticate'), 'Basic realm="pushprox"');
    assert.equal((await exchange(port, scrape('prometheus:wrong'))).head.status, 407);
    assert.equal((await exchange(port, scrape('mallory:s3cret'))).head.status, 407);
    const ok = await exchange(port, scrape('prometheus:s3cret'));
    assert.equal(ok.head.status, 500, 'authenticated: reaches routing (no such client)');
    assert.match(ok.body.toString(), /no client registered/);
    const clients = await exchange(port, 'GET /clients HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(clients.head.status, 401);
    assert.equal(clients.head.headers.get('WWW-Authenticate'), 'Basic realm="pushprox"');
    const authed = await exchange(port, `GET /clients HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${Buffer.from('prometheus:s3cret').toString('base64')}\r\n\r\n`);
    assert.equal(authed.head.status, 200);
    assert.equal((await exchange(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')).head.status, 401);
    const hello = await exchange(port, 'POST /poll HTTP/1.1\r\nHost: x\r\nX-Pushprox-Poll-Capacity: 1\r\nX-Pushprox-Hello: 1\r\nContent-Length: 6\r\n\r\nhost-a');
    assert.equal(hello.head.status, 204, 'the client role is not covered by basic_auth_users');
  });
});

test('tls_server_config: the proxy serves https; a scrape arrives over TLS', async (t) => {
  if (!haveOpenssl()) return t.skip('needs /usr/bin/openssl');
  await withWebProxy(`tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n`, async (proxy) => {
    assert.match(proxy.url, /^https:/);
    const port = proxy.address.port;
    assert.equal((await tlsGet(port, '/clients')).status, 200);
    const scrape = await tlsGet(port, 'http://ghost.example:9100/metrics');
    assert.equal(scrape.status, 500);
    assert.match(scrape.body, /no client registered for "ghost\.example"/);
    await assert.rejects(tlsGet(port, '/clients', { ca: [] }), /self.signed|unable to verify|certificate/i);
  });
});

test('client_auth_type RequireAndVerifyClientCert: no certificate, no connection; the CA-signed one works', async (t) => {
  if (!haveOpenssl()) return t.skip('needs /usr/bin/openssl');
  await withWebProxy(
    `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n`,
    async (proxy) => {
      const port = proxy.address.port;
      await assert.rejects(tlsGet(port, '/clients'));
      const ok = await tlsGet(port, '/clients', { cert: readFileSync(f('client.crt')), key: readFileSync(f('client.key')) });
      assert.equal(ok.status, 200);
    },
  );
});

test('client_auth_type RequireAnyClientCert refuses a connection without a certificate', async (t) => {
  if (!haveOpenssl()) return t.skip('needs /usr/bin/openssl');
  await withWebProxy(
    `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAnyClientCert\n`,
    async (proxy) => {
      await assert.rejects(tlsGet(proxy.address.port, '/clients'));
      const ok = await tlsGet(proxy.address.port, '/clients', { cert: readFileSync(f('client.crt')), key: readFileSync(f('client.key')) });
      assert.equal(ok.status, 200);
    },
  );
});

test('yaml is loaded only when a web config file is read', async () => {
  writeFileSync(f('lazy.yml'), `basic_auth_users:\n  alice: '${HASH}'\n`);
  const here = path.dirname(new URL(import.meta.url).pathname);
  const script = `
    import { createRequire } from 'node:module';
    const cache = createRequire(import.meta.url).cache;
    const yamlLoaded = () => Object.keys(cache).some((k) => k.includes('/node_modules/yaml/'));
    await import(${JSON.stringify(path.join(here, '../../src/index.js'))});
    const { loadWebConfig } = await import(${JSON.stringify(path.join(here, '../../src/auth/web-config.js'))});
    const before = yamlLoaded();
    const users = [...loadWebConfig(${JSON.stringify(f("lazy.yml"))}).users.keys()];
    console.log(JSON.stringify({ before, after: yamlLoaded(), users }));
  `;
  const { execFile } = await import('node:child_process');
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  assert.deepEqual(JSON.parse(out), { before: false, after: true, users: ['alice'] });
});
