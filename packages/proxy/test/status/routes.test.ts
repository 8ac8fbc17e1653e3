import { test } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { silentLogger } from '@pushprox/shared';
import { startProxy } from '../../src/listeners/server.js';
import { TEST_CONFIG, exchange, withProxy } from '../helpers.js';

const get = (port: number, target: string, extra = '') => exchange(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`);

test('the status page and API answer with a CSP that allows no inline script, nosniff and no caching', async () => {
  await withProxy({}, async (proxy) => {
    for (const path of ['/', '/assets/status.js', '/assets/status.css', '/assets/favicon.svg', '/api/v1/clients', '/api/v1/status']) {
      const { head } = await get(proxy.address.port, path);
      assert.equal(head.status, 200, path);
      const h = head.headers;
      assert.match(h.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/, path);
      assert.doesNotMatch(h.get('content-security-policy') ?? '', /unsafe/, path);
      assert.equal(h.get('x-content-type-options'), 'nosniff', path);
      assert.equal(h.get('cache-control'), 'no-store', path);
    }
  });
});

test('an absolute-form GET for a host\'s / is a scrape, never the status page', async () => {
  await withProxy({}, async (proxy) => {
    const { head, body } = await get(proxy.address.port, `http://127.0.0.1:${proxy.address.port}/`);
    assert.notEqual(head.status, 200);
    assert.match(body.toString(), /no client registered for "127.0.0.1"/);
  });
});

test('the API is read-only and answers bad requests in Prometheus\' error shape', async () => {
  await withProxy({}, async (proxy) => {
    const post = await exchange(proxy.address.port, 'POST /api/v1/clients HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
    assert.equal(post.head.status, 405);
    assert.equal(post.head.headers.get('allow'), 'GET, HEAD');
    const bad = await get(proxy.address.port, '/api/v1/clients?limit=lots');
    assert.equal(bad.head.status, 400);
    assert.deepEqual(JSON.parse(bad.body.toString()), { status: 'error', errorType: 'bad_data', error: 'invalid parameter "limit": expected a whole number, got "lots"' });
    const unknown = await get(proxy.address.port, '/api/v1/client?fqdn=nobody.example');
    assert.equal(unknown.head.status, 404);
    assert.equal(JSON.parse(unknown.body.toString()).errorType, 'not_found');
  });
});

test('with basic_auth_users, the page, its assets and the API need the same credentials as /clients', async () => {
  const users = new Map([['admin', bcrypt.hashSync('s3cret', 4)]]);
  const proxy = await startProxy(TEST_CONFIG, { logger: silentLogger, web: { tls: undefined, users } });
  try {
    for (const path of ['/', '/assets/status.js', '/api/v1/clients', '/api/v1/client?fqdn=a', '/api/v1/status']) {
      assert.equal((await get(proxy.address.port, path)).head.status, 401, path);
    }
    const auth = `Authorization: Basic ${Buffer.from('admin:s3cret').toString('base64')}\r\n`;
    assert.equal((await get(proxy.address.port, '/api/v1/status', auth)).head.status, 200);
    const status = JSON.parse((await get(proxy.address.port, '/api/v1/status', auth)).body.toString());
    assert.equal(status.data.auth.basicAuth, true);
  } finally {
    await proxy.close();
  }
});

test('with a separate client listener, the client port serves no status page nor API', async () => {
  await withProxy({ clientListen: { host: '127.0.0.1', port: 0 } } as never, async (proxy) => {
    for (const path of ['/', '/api/v1/clients', '/api/v1/status']) {
      assert.equal((await get(proxy.clientAddress!.port, path)).head.status, 404, path);
    }
    assert.equal((await get(proxy.address.port, '/')).head.status, 200);
  });
});

test('hostile API parameters (bad escapes, huge values, NULs, repeats) get 200 or a 400 saying what was expected, and the proxy keeps serving', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const targets = [
      '/api/v1/clients?search=%zz%',
      `/api/v1/clients?search=${'a'.repeat(8000)}`,
      '/api/v1/clients?limit=99999999999',
      '/api/v1/clients?offset=999999999&limit=1000',
      '/api/v1/clients?label==&failing=true&idle=true',
      '/api/v1/clients?label=%00%ff&sort=fqdn&sort=nope',
      '/api/v1/clients?order=desc&order=asc&sort=p99',
      `/api/v1/client?fqdn=${'%ff'.repeat(2000)}`,
      '/api/v1/client?fqdn=',
      '/api/v1/status?x=%',
    ];
    for (const target of targets) {
      const { head, body } = await get(port, target);
      assert.ok([200, 400, 404].includes(head.status), `${target.slice(0, 60)}: ${head.status}`);
      const json = JSON.parse(body.toString());
      if (head.status === 200) assert.equal(json.status, 'success');
      else assert.match(json.error, /expected|no registered client/, target.slice(0, 60));
      assert.ok(body.length < 64 * 1024, 'an error never echoes a huge parameter whole');
    }
    assert.equal((await get(port, '/-/healthy')).head.status, 200);
  });
});
