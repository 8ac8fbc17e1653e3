import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import bcrypt from 'bcryptjs';
import { BcryptPool } from '../../src/auth/bcrypt-pool.js';
import { silentLogger } from '@pushprox/shared';
import { startProxy, type RunningProxy } from '../../src/listeners/server.js';
import type { BasicAuthOptions } from '../../src/auth/basic-auth.js';
import { FailureLimiter, sourceOf } from '../../src/auth/failure-limiter.js';
import { requestText, TEST_CONFIG, type TextReply } from '../helpers.js';

const USER = 'prometheus';
const PASSWORD = 'correct horse battery staple';
// Cost 10 (as htpasswd -B): tens of ms each, what made floods starve scrapes.
let HASH10 = '';
// Cost 12: a check lasts long enough for requests to pile up behind it.
let HASH12 = '';

before(() => {
  HASH10 = bcrypt.hashSync(PASSWORD, 10);
  HASH12 = bcrypt.hashSync(PASSWORD, 12);
});

type Reply = TextReply;

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** One request from `from` (a loopback alias): a scrape through the proxy when `scrape`, else origin-form `path`. */
function request(proxy: RunningProxy, o: { from: string; path?: string; scrape?: boolean; auth?: string }): Promise<Reply> {
  const scrape = o.scrape ?? false;
  return requestText({
    host: '127.0.0.1',
    port: proxy.address.port,
    localAddress: o.from,
    agent: false,
    path: scrape ? 'http://unknown.example:9100/metrics' : (o.path ?? '/metrics'),
    headers: o.auth === undefined ? {} : { [scrape ? 'Proxy-Authorization' : 'Authorization']: o.auth },
  });
}

/** A metric's value (with `labels`, e.g. `reason="busy"`), read with the right password from 127.0.0.3. */
async function metric(proxy: RunningProxy, name: string, labels = ''): Promise<number> {
  const r = await request(proxy, { from: '127.0.0.3', auth: basic(USER, PASSWORD) });
  assert.equal(r.status, 200, r.body);
  const line = r.body.split('\n').find((l) => l.startsWith(labels ? `${name}{${labels}} ` : `${name} `));
  assert.ok(line, `expected ${name}{${labels}} in /metrics`);
  return Number(line.split(' ').at(-1));
}

async function withAuthProxy<T>(hash: string, basicAuth: BasicAuthOptions, fn: (p: RunningProxy) => Promise<T>): Promise<T> {
  const proxy = await startProxy(TEST_CONFIG, {
    logger: silentLogger,
    web: { tls: undefined, users: new Map([[USER, hash]]) },
    basicAuth,
  });
  try {
    return await fn(proxy);
  } finally {
    await proxy.close();
  }
}

const counts = (replies: readonly Reply[]) => {
  const out: Record<number, number> = {};
  for (const r of replies) out[r.status] = (out[r.status] ?? 0) + 1;
  return out;
};

describe('basic auth under guessing', { timeout: 120_000 }, () => {
  test('a wrong-password flood from one source is refused with 429 and Retry-After after the limit, without more bcrypt checks', async () => {
    await withAuthProxy(HASH10, { maxFailures: 5 }, async (proxy) => {
      const replies: Reply[] = [];
      for (let i = 0; i < 30; i++) replies.push(await request(proxy, { from: '127.0.0.1', scrape: true, auth: basic(USER, `guess-${i}`) }));
      assert.deepEqual(counts(replies), { 407: 5, 429: 25 });
      const refused = replies.find((r) => r.status === 429)!;
      const retryAfter = Number(refused.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `expected Retry-After 1..60 s, got ${refused.headers['retry-after']}`);
      assert.match(refused.body, /too many failed authentication attempts from 127\.0\.0\.1/);
      // The source is refused on /metrics too, even with the right password, until its window ends.
      assert.equal((await request(proxy, { from: '127.0.0.1', auth: basic(USER, PASSWORD) })).status, 429);
      assert.equal(await metric(proxy, 'pushprox_basic_auth_checks_total'), 5 + 1, 'five guesses and one /metrics read were checked');
      assert.equal(await metric(proxy, 'pushprox_basic_auth_failures_total'), 5);
      assert.equal(await metric(proxy, 'pushprox_basic_auth_refused_total', 'reason="throttled"'), 26);
      assert.equal(await metric(proxy, 'pushproxy_proxied_requests_total', 'code="429"'), 25);
    });
  });

  test('one wrong pair repeated (a job with a stale password) is not a guess: 407 each time, never 429', async () => {
    await withAuthProxy(HASH10, { maxFailures: 3 }, async (proxy) => {
      for (let i = 0; i < 12; i++) {
        assert.equal((await request(proxy, { from: '127.0.0.1', scrape: true, auth: basic(USER, 'stale password') })).status, 407);
      }
      assert.equal((await request(proxy, { from: '127.0.0.1', path: '/clients', auth: basic(USER, PASSWORD) })).status, 200);
      assert.equal(await metric(proxy, 'pushprox_basic_auth_failures_total'), 12);
    });
  });

  test('the right password from another source works during a wrong-password flood', async () => {
    await withAuthProxy(HASH10, {}, async (proxy) => {
      const deadline = Date.now() + 8_000;
      let sent = 0;
      const statuses: number[] = [];
      let stop = false;
      // 8 loops of distinct wrong passwords from 127.0.0.1, bounded in count and time.
      const flood = Array.from({ length: 8 }, async () => {
        while (!stop && sent < 3000 && Date.now() < deadline) {
          const r = await request(proxy, { from: '127.0.0.1', scrape: true, auth: basic(USER, `guess-${sent++}`) });
          statuses.push(r.status);
        }
      });
      try {
        while (!statuses.includes(429) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        assert.ok(statuses.includes(429), 'expected the flood to be throttled');
        const t0 = Date.now();
        const legit = await request(proxy, { from: '127.0.0.2', path: '/clients', auth: basic(USER, PASSWORD) });
        assert.equal(legit.status, 200, legit.body);
        // The scrape passes authentication: 500 is the unknown client's answer, not 407, 429 or 503.
        const scrape = await request(proxy, { from: '127.0.0.2', scrape: true, auth: basic(USER, PASSWORD) });
        assert.equal(scrape.status, 500, scrape.body);
        assert.ok(Date.now() - t0 < 5_000, `expected the legitimate requests within seconds, took ${Date.now() - t0} ms`);
      } finally {
        stop = true;
        await Promise.all(flood);
      }
      // Without the limit every guess would be a check; with it, about maxFailures (10) and those in flight.
      const checks = await metric(proxy, 'pushprox_basic_auth_checks_total');
      assert.ok(checks <= 30, `expected at most 30 bcrypt checks for ${statuses.length} guesses, got ${checks}`);
    });
  });

  test('a user/password pair already checked is answered from memory, passes and failures alike', async () => {
    await withAuthProxy(HASH10, { maxFailures: 100 }, async (proxy) => {
      for (let i = 0; i < 5; i++) assert.equal((await request(proxy, { from: '127.0.0.1', path: '/clients', auth: basic(USER, PASSWORD) })).status, 200);
      for (let i = 0; i < 5; i++) assert.equal((await request(proxy, { from: '127.0.0.1', path: '/clients', auth: basic(USER, 'wrong') })).status, 401);
      for (let i = 0; i < 3; i++) assert.equal((await request(proxy, { from: '127.0.0.1', path: '/clients', auth: basic('nobody', 'wrong') })).status, 401);
      // One check per distinct pair (`metric` reads with the first, already checked).
      assert.equal(await metric(proxy, 'pushprox_basic_auth_checks_total'), 3);
      assert.equal(await metric(proxy, 'pushprox_basic_auth_failures_total'), 8);
    });
  });

  test('when the password check queue is full, a request is refused at once with 503 and Retry-After', async () => {
    await withAuthProxy(HASH12, { maxPending: 1, maxFailures: 0 }, async (proxy) => {
      const replies = await Promise.all(
        Array.from({ length: 6 }, (_, i) => request(proxy, { from: '127.0.0.1', scrape: true, auth: basic(USER, `parallel-${i}`) })),
      );
      const c = counts(replies);
      assert.ok((c[503] ?? 0) >= 1, `expected some 503, got ${JSON.stringify(c)}`);
      assert.ok((c[407] ?? 0) >= 1, `expected some checked (407), got ${JSON.stringify(c)}`);
      assert.equal((c[503] ?? 0) + (c[407] ?? 0), 6, JSON.stringify(c));
      const busy = replies.find((r) => r.status === 503)!;
      assert.equal(busy.headers['retry-after'], '1');
      assert.match(busy.body, /too many password checks in progress/);
      assert.equal(await metric(proxy, 'pushprox_basic_auth_refused_total', 'reason="busy"'), c[503]);
    });
  });

  test('the per-source failure table is bounded', async () => {
    await withAuthProxy(HASH10, { maxFailures: 100, maxSources: 4 }, async (proxy) => {
      for (let i = 0; i < 12; i++) {
        const r = await request(proxy, { from: `127.0.0.${10 + i}`, path: '/clients', auth: basic(USER, `wrong-${i}`) });
        assert.equal(r.status, 401);
      }
      assert.equal(await metric(proxy, 'pushprox_basic_auth_failing_sources'), 4);
    });
  });
});

describe('FailureLimiter', () => {
  test('refuses a source after maxFailures within the window, and forgets it when the window ends', () => {
    let now = 1_000_000;
    const l = new FailureLimiter({ maxFailures: 3, windowMs: 60_000, now: () => now });
    assert.equal(l.fail('a'), false);
    assert.equal(l.fail('a'), false);
    assert.equal(l.retryAfterMs('a'), 0);
    assert.equal(l.fail('a'), true);
    now += 10_000;
    assert.equal(l.retryAfterMs('a'), 50_000);
    assert.equal(l.retryAfterMs('b'), 0);
    now += 50_000;
    assert.equal(l.retryAfterMs('a'), 0);
    assert.equal(l.size, 0);
  });

  test('a success forgets the failures; maxFailures 0 never refuses', () => {
    const l = new FailureLimiter({ maxFailures: 2 });
    l.fail('a');
    l.succeed('a');
    assert.equal(l.fail('a'), false);
    const off = new FailureLimiter({ maxFailures: 0 });
    for (let i = 0; i < 100; i++) off.fail('a');
    assert.equal(off.retryAfterMs('a'), 0);
    assert.equal(off.size, 0);
  });

  test('sources: IPv4-mapped addresses are IPv4, IPv6 addresses count by /64', () => {
    assert.equal(sourceOf('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(sourceOf('10.1.2.3'), '10.1.2.3');
    assert.equal(sourceOf('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(sourceOf('2001:0db8:0001:0002:ffff:1:2:3'), '2001:db8:1:2::/64');
    assert.equal(sourceOf('2001:db8::5'), '2001:db8:0:0::/64');
    assert.equal(sourceOf('::1'), '0:0:0:0::/64');
  });
});

describe('BcryptPool', () => {
  test('its worker (bcryptjs from source text) accepts the right password and refuses wrong ones on $2a$, $2b$ and $2y$ hashes', async () => {
    const pool = new BcryptPool({ maxPending: 64 });
    try {
      const passwords = ['', 'a', 'secret', 'pässwörd ✓', 'emoji 😀', 'x'.repeat(71), 'y'.repeat(72)];
      const checks: Array<Promise<void>> = [];
      for (const pw of passwords) {
        for (const minor of ['a', 'b', 'y']) {
          const hash = bcrypt.hashSync(pw, 4).replace(/^\$2b\$/, `$2${minor}$`);
          checks.push(pool.compare(Buffer.from(pw), hash).then((ok) => assert.equal(ok, true, `${JSON.stringify(pw)} against ${hash}`)));
          checks.push(
            pool.compare(Buffer.from(`${pw.slice(0, 70)}!`), hash).then((ok) => assert.equal(ok, false, `a wrong password against ${hash}`)),
          );
        }
      }
      await Promise.all(checks);
      assert.equal(await pool.compare(Buffer.from('secret'), 'not a hash'), false);
    } finally {
      pool.close();
    }
  });
});

