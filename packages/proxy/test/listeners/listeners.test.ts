import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buffer } from 'node:stream/consumers';
import { silentLogger } from '@pushprox/shared';
import { startProxy, type RunningProxy, type StartProxyDeps } from '../../src/listeners/server.js';
import { loadWebConfig, WebConfigError } from '../../src/auth/web-config.js';
import { TEST_CONFIG, connect, until, withProxy } from '../helpers.js';
import { haveOpenssl, makeCerts } from '../certs.js';

let dir: string;
const f = (name: string) => path.join(dir, name);
const TLS_YAML = 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n';
const MTLS_YAML = `${TLS_YAML}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n`;

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'pushprox-listeners-'));
  if (haveOpenssl()) makeCerts(dir, ['host-a.example']);
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Reply {
  readonly status: number;
  readonly body: string;
}
interface CallOptions {
  readonly method?: string;
  readonly body?: string;
  readonly path?: string;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly timeoutMs?: number;
}

/** One request to `base` (http or https); `path` may be absolute-form. Bounded by timeoutMs. */
function call(base: string, o: CallOptions = {}): Promise<Reply> {
  const u = new URL(base);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      {
        host: u.hostname,
        port: u.port,
        method: o.method ?? 'GET',
        path: o.path ?? '/',
        agent: false,
        timeout: o.timeoutMs ?? 5_000,
        ...(u.protocol === 'https:' && { ca: o.ca ?? readFileSync(f('ca.crt')), cert: o.cert, key: o.key }),
      },
      (res) => buffer(res).then((b) => resolve({ status: res.statusCode!, body: b.toString() }), reject),
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${base}${o.path ?? '/'} within ${o.timeoutMs ?? 5_000} ms`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

async function withSplitProxy(deps: Omit<StartProxyDeps, 'logger'>, fn: (p: RunningProxy) => Promise<void>): Promise<void> {
  const proxy = await startProxy(
    { ...TEST_CONFIG, clientListen: { host: '127.0.0.1', port: 0 } },
    { logger: silentLogger, ...deps },
  );
  try {
    await fn(proxy);
  } finally {
    await proxy.close();
  }
}

/** A whole scrape: poll on clientUrl, scrape through url, push the answer back. */
async function roundTrip(proxy: RunningProxy, client: CallOptions = {}): Promise<Reply> {
  const poll = call(proxy.clientUrl, { ...client, method: 'POST', path: '/poll', body: 'host-a.example', timeoutMs: 10_000 });
  for (let i = 0; i < 100 && proxy.coordinator.stats().waitingPolls === 0; i++) await new Promise((r) => setTimeout(r, 20));
  const scrape = call(proxy.url, { path: 'http://host-a.example:9100/metrics', timeoutMs: 10_000 });
  const job = await poll;
  assert.equal(job.status, 200, job.body);
  const id = /\r\nId: ([^\r]+)\r\n/.exec(job.body)?.[1];
  assert.ok(id, `expected an Id in the scrape request, got ${JSON.stringify(job.body)}`);
  const pushed = await call(proxy.clientUrl, {
    ...client,
    method: 'POST',
    path: '/push',
    body: `HTTP/1.1 200 OK\r\nId: ${id}\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nup 1\nx 2`,
  });
  assert.equal(pushed.status, 200, pushed.body);
  return scrape;
}

test('--web.client-listen-address: clients use only the client port, Prometheus only the main port', async () => {
  await withSplitProxy({}, async (proxy) => {
    assert.ok(proxy.clientAddress);
    assert.notEqual(proxy.clientUrl, proxy.url);
    const scrape = await roundTrip(proxy);
    assert.equal(scrape.status, 200);
    assert.equal(scrape.body, 'up 1\nx 2');
    // The client port serves nothing of the scraper role, and the reverse.
    for (const p of ['/clients', '/metrics', 'http://host-a.example:9100/metrics']) {
      const r = await call(proxy.clientUrl, { path: p });
      assert.equal(r.status, 404, p);
      assert.match(r.body, /served on --web\.listen-address/);
    }
    for (const p of ['/poll', '/push']) {
      const r = await call(proxy.url, { method: 'POST', path: p, body: 'host-a.example' });
      assert.equal(r.status, 404, p);
      assert.match(r.body, /served on --web\.client-listen-address/);
    }
    const clients = await call(proxy.url, { path: '/clients' });
    assert.deepEqual(JSON.parse(clients.body), [{ targets: ['host-a.example'], labels: {} }]);
  });
});

test('the client listener has its own TLS (--web.client-config.file) while the scraper port stays plain', async (t) => {
  if (!haveOpenssl()) return t.skip('needs /usr/bin/openssl');
  writeFileSync(f('client-web.yml'), TLS_YAML);
  await withSplitProxy({ clientWeb: loadWebConfig(f('client-web.yml'), 'web.client-config.file') }, async (proxy) => {
    assert.match(proxy.url, /^http:/);
    assert.match(proxy.clientUrl, /^https:/);
    assert.equal((await roundTrip(proxy)).status, 200);
    // Plain HTTP to the TLS port is not served: it gets Go's 400 saying the port speaks TLS.
    const plain = await call(proxy.clientUrl.replace('https:', 'http:'), { method: 'POST', path: '/poll', body: 'x', timeoutMs: 2_000 });
    assert.equal(plain.status, 400);
    assert.equal(plain.body, 'Client sent an HTTP request to an HTTPS server.\n');
  });
});

test('without --web.client-config.file the client listener inherits the main TLS settings', async (t) => {
  if (!haveOpenssl()) return t.skip('needs /usr/bin/openssl');
  writeFileSync(f('web.yml'), TLS_YAML);
  await withSplitProxy({ web: loadWebConfig(f('web.yml')) }, async (proxy) => {
    assert.match(proxy.url, /^https:/);
    assert.match(proxy.clientUrl, /^https:/);
    assert.equal((await roundTrip(proxy)).status, 200);
  });
});

test('basic_auth_users in --web.client-config.file is an error naming the flag', () => {
  writeFileSync(f('client-auth.yml'), 'basic_auth_users:\n  u: $2y$10$abcdefghijklmnopqrstuuJ1gq0jV9u8b5xq1K3B2eW7YQk8mV6y\n');
  assert.throws(
    () => loadWebConfig(f('client-auth.yml'), 'web.client-config.file'),
    (err: Error) => err instanceof WebConfigError && /--web\.client-config\.file/.test(err.message) && /basic_auth_users does not apply/.test(err.message),
  );
});

test('mutual TLS configured (client_ca_file): a client without a certificate may not poll; Prometheus still scrapes without one', async (t) => {
  if (!haveOpenssl()) return t.skip('needs /usr/bin/openssl');
  writeFileSync(f('mtls.yml'), MTLS_YAML);
  const proxy = await startProxy(TEST_CONFIG, { logger: silentLogger, web: loadWebConfig(f('mtls.yml')) });
  try {
    const anonymous = await call(proxy.url, { method: 'POST', path: '/poll', body: 'host-a.example' });
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.body, /expected a client certificate signed by tls_server_config\.client_ca_file/);
    const anonPush = await call(proxy.url, { method: 'POST', path: '/push', body: 'HTTP/1.1 200 OK\r\nId: x\r\nContent-Length: 0\r\n\r\n' });
    assert.equal(anonPush.status, 401);
    const scrape = await roundTrip(proxy, { cert: readFileSync(f('host-a.example.crt')), key: readFileSync(f('host-a.example.key')) });
    assert.equal(scrape.status, 200);
  } finally {
    await proxy.close();
  }
});

test('CLI: --web.client-config.file without --web.client-listen-address exits 2 saying why', () => {
  const bin = fileURLToPath(new URL('../../../bin/pushprox-proxy.js', import.meta.url));
  const r = spawnSync(process.execPath, [bin, '--web.client-config.file=/nonexistent.yml'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--web\.client-config\.file needs --web\.client-listen-address/);
});

test('a version-less (HTTP/0.9) request line on an API path is refused with 400', async () => {
  await withSplitProxy({}, async (proxy) => {
    for (const port of [proxy.address.port, proxy.clientAddress!.port]) {
      const socket = await connect(port);
      const closed = new Promise<string>((resolve) => {
        let got = '';
        socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
        socket.on('close', () => resolve(got));
      });
      socket.write('POST /poll\nX-Injected: 1\r\n\r\n');
      const reply = await closed;
      assert.match(reply, /^HTTP\/1\.1 400 /, `port ${port}: ${JSON.stringify(reply.slice(0, 80))}`);
    }
    assert.equal(proxy.coordinator.stats().waitingPolls, 0);
  });
});

test('accepted connections have TCP keep-alive probes armed, so a vanished client is found without traffic of ours', async (t) => {
  if (!existsSync('/proc/net/tcp')) return t.skip('needs Linux /proc/net/tcp');
  await withProxy({ pollIdleTimeoutMs: 0 }, async (proxy) => {
    const port = proxy.address.port;
    const socket = await connect(port);
    t.after(() => socket.destroy());
    socket.write('POST /poll HTTP/1.1\r\nHost: p\r\nX-Pushprox-Poll-Capacity: 1\r\nContent-Length: 6\r\n\r\nhost-a');
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
    // The proxy's side of this connection: local port = the proxy's, remote = ours.
    const line = readFileSync('/proc/net/tcp', 'utf8')
      .split('\n')
      .find((l) => {
        const f = l.trim().split(/\s+/);
        return f[1]?.endsWith(`:${hex(port)}`) && f[2]?.endsWith(`:${hex(socket.localPort!)}`);
      });
    assert.ok(line, 'the accepted connection is in /proc/net/tcp');
    // Field 5 is tr:tm->when; timer type 02 is the keep-alive timer (00: none armed).
    const timer = line.trim().split(/\s+/)[5]!.split(':')[0];
    assert.equal(timer, '02', `expected the keep-alive timer on the proxy's socket, got ${line.trim()}`);
  });
});
