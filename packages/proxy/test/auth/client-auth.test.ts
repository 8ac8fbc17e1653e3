import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { parseRequest, silentLogger } from '@pushprox/shared';
import { startProxy, type RunningProxy } from '../../src/listeners/server.js';
import { loadTokenFile } from '../../src/auth/client-auth.js';
import { loadWebConfig } from '../../src/auth/web-config.js';
import { TEST_CONFIG, exchange, until } from '../helpers.js';
import { haveOpenssl, makeCerts } from '../certs.js';

let dir: string;
const f = (n: string) => path.join(dir, n);
const TOKEN_A = 'token-for-host-a-0123456789';
const TOKEN_DC1 = 'token-for-dc1-hosts-0123456789';
const TOKEN_ANY = 'token-for-any-host-0123456789';

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'pushprox-clientauth-'));
  writeFileSync(f('tokens'), `# comment\n${TOKEN_A} host-a.example\n${TOKEN_DC1} *.dc1.example\n\n${TOKEN_ANY}\n`);
  if (haveOpenssl()) makeCerts(dir, ['host-a.example']);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const poll = (fqdn: string, token?: string, hello = true) =>
  `POST /poll HTTP/1.1\r\nHost: p\r\nX-Pushprox-Poll-Capacity: 1\r\n${hello ? 'X-Pushprox-Hello: 1\r\n' : ''}` +
  `${token ? `Authorization: Bearer ${token}\r\n` : ''}Content-Length: ${fqdn.length}\r\n\r\n${fqdn}`;
const push = (id: string, token: string) => {
  const inner = `HTTP/1.1 200 OK\r\nContent-Length: 3\r\nId: ${id}\r\n\r\nok\n`;
  return `POST /push HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${inner.length}\r\n\r\n${inner}`;
};

async function withTokens(fn: (p: RunningProxy) => Promise<void>) {
  const proxy = await startProxy(TEST_CONFIG, { logger: silentLogger, clientTokens: loadTokenFile(f('tokens')) });
  try {
    await fn(proxy);
  } finally {
    await proxy.close();
  }
}

test('--client.token-file: a poll without or with an unknown token gets 401; tokens limit FQDNs (403)', async () => {
  await withTokens(async (proxy) => {
    const port = proxy.address.port;
    const none = await exchange(port, poll('host-a.example'));
    assert.equal(none.head.status, 401);
    assert.match(none.body.toString(), /Authorization: Bearer/);
    assert.equal((await exchange(port, poll('host-a.example', 'not-a-known-token-at-all'))).head.status, 401);
    assert.equal((await exchange(port, poll('host-a.example', TOKEN_A))).head.status, 204);
    const stolen = await exchange(port, poll('host-b.example', TOKEN_A));
    assert.equal(stolen.head.status, 403);
    assert.match(stolen.body.toString(), /token on line 2 may not act for "host-b\.example"/);
    assert.equal((await exchange(port, poll('web-1.dc1.example', TOKEN_DC1))).head.status, 204);
    assert.equal((await exchange(port, poll('web-1.dc2.example', TOKEN_DC1))).head.status, 403);
    assert.equal((await exchange(port, poll('anything.example', TOKEN_ANY))).head.status, 204);
    assert.deepEqual(proxy.coordinator.registry.list(), ['anything.example', 'host-a.example', 'web-1.dc1.example']);
  });
});

test('a push with a forged Id from a client that may not act for the scrape\'s FQDN is refused; the scrape survives', async () => {
  await withTokens(async (proxy) => {
    const port = proxy.address.port;
    const p = exchange(port, poll('host-a.example', TOKEN_A, false));
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    const s = exchange(port, 'GET http://host-a.example:9100/metrics HTTP/1.1\r\nHost: host-a.example:9100\r\nX-Prometheus-Scrape-Timeout-Seconds: 5\r\n\r\n');
    const id = parseRequest((await p).body).head.headers.get('Id')!;
    const forged = await exchange(port, push(id, TOKEN_DC1));
    assert.equal(forged.head.status, 403);
    assert.equal((await exchange(port, push(id, TOKEN_A))).head.status, 200);
    const got = await s;
    assert.equal(got.head.status, 200);
    assert.equal(got.body.toString(), 'ok\n');
  });
});

function tlsPoll(port: number, fqdn: string, cert: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: '/poll',
        method: 'POST',
        agent: false,
        ca: readFileSync(f('ca.crt')),
        cert: readFileSync(f(`${cert}.crt`)),
        key: readFileSync(f(`${cert}.key`)),
        headers: { 'X-Pushprox-Poll-Capacity': '1', 'X-Pushprox-Hello': '1' },
      },
      (res) => buffer(res).then(() => resolve(res.statusCode!), reject),
    );
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(fqdn);
  });
}

test('identity-bound FQDNs: a client certificate may only poll for the names it carries', async (t) => {
  if (!haveOpenssl()) return t.skip('needs /usr/bin/openssl');
  writeFileSync(
    f('web.yml'),
    'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n',
  );
  const proxy = await startProxy(TEST_CONFIG, { logger: silentLogger, web: loadWebConfig(f('web.yml')) });
  try {
    assert.equal(await tlsPoll(proxy.address.port, 'host-a.example', 'host-a.example'), 204);
    assert.equal(await tlsPoll(proxy.address.port, 'host-b.example', 'host-a.example'), 403);
  } finally {
    await proxy.close();
  }
});
