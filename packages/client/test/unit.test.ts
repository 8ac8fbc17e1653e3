import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ERROR_CODES,
  HEADER_ID,
  HEADER_SCRAPE_TIMEOUT,
  isPushProxError,
  parseResponse,
  WireHeaders,
} from '@pushprox/shared';
import {
  applySchemeParam,
  ExponentialBackoff,
  errorPayload,
  FQDN_MISMATCH_MESSAGE,
  formatRemainingSeconds,
  forwardedHeaders,
  normaliseProxyUrl,
  parseScrapeTimeout,
  pushReserveMs,
  resolveFqdn,
  scrapeTarget,
} from '../src/index.js';

test('backoff: ×1.5 from the initial wait up to the max, ±50 % jitter, reset', () => {
  const mid = new ExponentialBackoff({ initialMs: 20, maxMs: 60, random: () => 0.5 });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => mid.next()), [20, 30, 45, 60, 60, 60]);
  mid.reset();
  assert.equal(mid.next(), 20);

  const low = new ExponentialBackoff({ initialMs: 1000, maxMs: 5000, random: () => 0 });
  const high = new ExponentialBackoff({ initialMs: 1000, maxMs: 5000, random: () => 0.999999 });
  assert.equal(low.next(), 500);
  assert.ok(Math.abs(high.next() - 1500) < 0.01);
  // Upstream's cap applies before jitter: a wait can reach 1.5 × max.
  for (let i = 0; i < 10; i++) high.next();
  assert.ok(Math.abs(high.next() - 7500) < 0.01);
});

test('_scheme=https switches to https and is removed; other parameters keep order and bytes', () => {
  assert.deepEqual(applySchemeParam('http', 'module=http_2xx&_scheme=https&target=a%20b+c'), {
    scheme: 'https',
    query: 'module=http_2xx&target=a%20b+c',
  });
  assert.deepEqual(applySchemeParam('http', '_scheme=https'), { scheme: 'https', query: '' });
  // The first _scheme decides, as Go's Query().Get; http leaves the query alone.
  assert.deepEqual(applySchemeParam('http', '_scheme=http&_scheme=https'), { scheme: 'http', query: '_scheme=http&_scheme=https' });
  assert.deepEqual(applySchemeParam('http', 'a=1'), { scheme: 'http', query: 'a=1' });

  const t = scrapeTarget('http://127.0.0.1:9100/probe?z=1&_scheme=https&a=2', '127.0.0.1');
  assert.equal(t.origin, 'https://127.0.0.1:9100');
  assert.equal(t.path, '/probe?z=1&a=2');
  assert.equal(t.url, 'https://127.0.0.1:9100/probe?z=1&a=2');
  assert.equal(scrapeTarget('http://127.0.0.1:9100/metrics?_scheme=https', '127.0.0.1').url, 'https://127.0.0.1:9100/metrics');
  assert.equal(scrapeTarget('http://Host.Example.com:9100', 'host.example.com').path, '/');
  assert.equal(scrapeTarget('http://[::1]:9100/metrics', '::1').origin, 'http://[::1]:9100');
  assert.equal(scrapeTarget('http://u:p%40ss@h.example:1/m', 'h.example').basicAuth, 'u:p@ss');
});

test('scrape target host must equal --fqdn (upstream text and code)', () => {
  for (const target of ['http://other.example:9100/metrics', '/metrics', 'http://127.0.0.2/']) {
    assert.throws(
      () => scrapeTarget(target, '127.0.0.1'),
      (err: unknown) => isPushProxError(err) && err.code === ERROR_CODES.CLIENT_FQDN_MISMATCH && err.message.startsWith(FQDN_MISMATCH_MESSAGE),
    );
  }
});

test('scrape timeout header: float seconds; absent, junk or non-positive is undefined', () => {
  const h = (v?: string): WireHeaders => new WireHeaders(v === undefined ? [] : [[HEADER_SCRAPE_TIMEOUT, v]]);
  assert.equal(parseScrapeTimeout(h('10')), 10_000);
  assert.equal(parseScrapeTimeout(h('0.25')), 250);
  assert.equal(parseScrapeTimeout(h('1e1')), 10_000);
  for (const bad of [undefined, '', 'abc', '0x10', '0', '-1', 'Infinity', '10s']) assert.equal(parseScrapeTimeout(h(bad)), undefined, String(bad));
  assert.equal(pushReserveMs(10_000), 500);
  assert.equal(pushReserveMs(1000), 100);
});

test('forwarded headers drop hop-by-hop, Connection-named, Host and Id; keep the timeout header', () => {
  const headers = new WireHeaders([
    ['Host', '127.0.0.1:9100'],
    ['User-Agent', 'Prometheus/2.42.0+ds'],
    ['Connection', 'keep-alive, X-Hop'],
    ['Keep-Alive', 'timeout=5'],
    ['X-Hop', '1'],
    ['TE', 'trailers'],
    [HEADER_ID, 'abc'],
    [HEADER_SCRAPE_TIMEOUT, '10'],
    ['Accept-Encoding', 'gzip'],
  ]);
  assert.deepEqual(forwardedHeaders(headers), [
    'User-Agent', 'Prometheus/2.42.0+ds',
    HEADER_SCRAPE_TIMEOUT, '10',
    'Accept-Encoding', 'gzip',
  ]);
});

test('--proxy-url is normalised like upstream and poll/push resolve relative to it', () => {
  assert.deepEqual(normaliseProxyUrl('http://proxy:8080///'), {
    proxyUrl: 'http://proxy:8080/',
    pollUrl: 'http://proxy:8080/poll',
    pushUrl: 'http://proxy:8080/push',
  });
  assert.equal(normaliseProxyUrl('https://lb.example/pushprox').pollUrl, 'https://lb.example/pushprox/poll');
  assert.throws(() => normaliseProxyUrl(''), /--proxy-url/);
  assert.throws(() => normaliseProxyUrl('proxy:8080'), /--proxy-url.*expected an http or https URL/);
  assert.throws(() => normaliseProxyUrl('not a url'), /--proxy-url/);
});

test('default FQDN: dotted hostname as is, else DNS within the timeout, else the hostname', async () => {
  assert.equal(await resolveFqdn({ hostname: () => 'a.example.com', lookup: () => assert.fail('no lookup expected') }), 'a.example.com');
  assert.equal(
    await resolveFqdn({
      hostname: () => 'box',
      lookup: async () => ({ address: '10.0.0.5' }),
      lookupService: async (addr) => ({ hostname: addr === '10.0.0.5' ? 'box.corp.example' : 'wrong' }),
    }),
    'box.corp.example',
  );
  assert.equal(await resolveFqdn({ hostname: () => 'box', lookup: async () => ({ address: '127.0.0.1' }), lookupService: async () => ({ hostname: 'localhost' }) }), 'box');
  assert.equal(await resolveFqdn({ hostname: () => 'box', lookup: () => Promise.reject(new Error('ENOTFOUND')) }), 'box');
  const started = Date.now();
  assert.equal(await resolveFqdn({ hostname: () => 'box', timeoutMs: 50, lookup: () => new Promise(() => {}) }), 'box');
  assert.ok(Date.now() - started < 1000);
});

test('error push payload: 500 with text, Content-Length, Id and remaining seconds', () => {
  const p = errorPayload('id-1', 500, 'failed to scrape http://x/metrics: boom', 9994.4962);
  assert.equal(p.length, (p.body as Buffer).length);
  const { head, body } = parseResponse(p.body as Buffer);
  assert.equal(head.status, 500);
  assert.equal(head.reason, 'failed to scrape http://x/metrics: boom');
  assert.equal(head.headers.get('Content-Type'), 'text/plain; charset=utf-8');
  assert.equal(head.headers.get(HEADER_ID), 'id-1');
  assert.equal(head.headers.get(HEADER_SCRAPE_TIMEOUT), '9.994496');
  assert.equal(body.toString(), 'failed to scrape http://x/metrics: boom');
  assert.equal(parseResponse(errorPayload('i', 503, 'client overloaded: x', 1).body as Buffer).head.reason, 'client overloaded: x');
  assert.equal(formatRemainingSeconds(-1.5), '-0.001500');
});

test('backoff fast phase: quick jittered retries for the fast period, then the ordinary waits at their cap', () => {
  let now = 0;
  const mid = new ExponentialBackoff({ initialMs: 1000, maxMs: 5000, random: () => 0.5, fastPeriodMs: 15_000, now: () => now });
  const fast: number[] = [];
  while (now < 15_000) {
    const wait = mid.next();
    fast.push(wait);
    now += wait;
  }
  assert.deepEqual(fast.slice(0, 4), [200, 300, 450, 600]);
  assert.ok(fast.every((w) => w <= 600), `every fast wait at most 600 ms: ${fast.join(', ')}`);
  assert.equal(mid.next(), 5000);
  // A success ends the outage: the next one starts fast again.
  mid.reset();
  assert.equal(mid.next(), 200);

  // Jitter spreads a fleet over ±50 %; the longest fast wait stays under a second.
  const high = new ExponentialBackoff({ initialMs: 1000, maxMs: 5000, random: () => 0.999999, fastPeriodMs: 15_000, now: () => 0 });
  const waits = Array.from({ length: 20 }, () => high.next());
  assert.ok(Math.abs(waits[0]! - 300) < 0.01 && Math.max(...waits) < 900, waits.join(', '));
  // Never slower than the ordinary waits: an initial wait below the fast one is kept.
  const tiny = new ExponentialBackoff({ initialMs: 20, maxMs: 60, random: () => 0.5, fastPeriodMs: 15_000, now: () => 0 });
  assert.deepEqual([1, 2, 3, 4].map(() => tiny.next()), [20, 30, 45, 60]);
});
