import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, HTTP_STATUS, PushProxError } from '@pushprox/shared';
import {
  checkTarget,
  DEFAULT_SCRAPE_POLICY,
  localTarget,
  parseAllowList,
  parseMethods,
  parsePortList,
  resolveConfig,
  scrapePolicy,
  scrapeTarget,
  USE_LOCALHOST_NEEDS_ALLOW_PORT,
  type ClientArgs,
} from '../../src/index.js';

const FQDN = 'host-a.example';
/** checkTarget on a proxy request target, after the FQDN check and `_scheme`, as the job does. */
const check = (policy: Parameters<typeof checkTarget>[0], method: string, target: string) =>
  checkTarget(policy, method, scrapeTarget(target, FQDN).url);

test('parsePortList: one port or a comma-separated list; bad values say what was expected and what arrived', () => {
  assert.deepEqual(parsePortList('9100'), [9100]);
  assert.deepEqual(parsePortList('9100, 9796,9100'), [9100, 9796]);
  assert.deepEqual(parsePortList('1,65535'), [1, 65535]);
  assert.throws(() => parsePortList('abc'), /expected a port from 1 to 65535 .*got "abc"/);
  assert.throws(() => parsePortList('9100,abc'), /got "abc" in "9100,abc"/);
  for (const bad of ['', '0', '65536', '-1', '9100,', '91 00', '0x10', '+80']) {
    assert.throws(() => parsePortList(bad), /expected a port/, bad);
  }
});

test('parseAllowList: :<port>[/path][*]; bad patterns say what was expected and what arrived', () => {
  assert.deepEqual(parseAllowList(':9100/metrics, :9796/*,:9200'), [
    { port: 9100, path: '/metrics', prefix: false, source: ':9100/metrics' },
    { port: 9796, path: '/', prefix: true, source: ':9796/*' },
    { port: 9200, path: undefined, prefix: false, source: ':9200' },
  ]);
  assert.deepEqual(parseAllowList(':9100/api/*')[0], { port: 9100, path: '/api/', prefix: true, source: ':9100/api/*' });
  for (const bad of ['', '9100/metrics', 'host:9100/metrics', ':abc', ':0', ':70000/x', ':9100metrics', ':9100/me*trics', ':9100/a?b', ':9100/*,', ':9100/**']) {
    assert.throws(() => parseAllowList(bad), /expected comma-separated patterns :<port>\[\/path\]\[\*\].*got "/, bad);
  }
  assert.throws(() => parseAllowList(':9100/metrics,9796'), /got "9796" in ":9100\/metrics,9796"/);
});

test('parseMethods: upper-cased tokens; junk is refused', () => {
  assert.deepEqual(parseMethods('get, HEAD,GET'), ['GET', 'HEAD']);
  assert.throws(() => parseMethods('G ET'), /expected a comma-separated list of HTTP methods.*"G ET"/);
  assert.throws(() => parseMethods(''), /HTTP methods/);
});

test('default policy: any port and path, GET and HEAD only', () => {
  assert.equal(check(DEFAULT_SCRAPE_POLICY, 'GET', `http://${FQDN}:22/anything?x=1`), undefined);
  assert.equal(check(DEFAULT_SCRAPE_POLICY, 'HEAD', `http://${FQDN}/`), undefined);
  assert.deepEqual(check(DEFAULT_SCRAPE_POLICY, 'POST', `http://${FQDN}:9100/metrics`), {
    reason: 'method',
    message: 'method POST is not allowed (allowed: GET, HEAD)',
  });
  // Methods are case-sensitive on the wire.
  assert.equal(check(DEFAULT_SCRAPE_POLICY, 'get', `http://${FQDN}:9100/metrics`)?.reason, 'method');
  const getOnly = scrapePolicy({ methods: ['GET'] });
  assert.deepEqual(check(getOnly, 'HEAD', `http://${FQDN}:9100/metrics`), {
    reason: 'method',
    message: 'method HEAD is not allowed (allowed: GET)',
  });
});

test('--allow-port: explicit and default ports, after `_scheme`', () => {
  const policy = scrapePolicy({ allowPorts: [9100, 9796] });
  assert.equal(check(policy, 'GET', `http://${FQDN}:9100/metrics`), undefined);
  assert.equal(check(policy, 'GET', `http://${FQDN}:9796/any/path?q=1`), undefined);
  assert.deepEqual(check(policy, 'GET', `http://${FQDN}:22/metrics`), {
    reason: 'port',
    message: 'port 22 is not allowed (allowed: 9100, 9796)',
  });
  assert.equal(check(policy, 'GET', `http://${FQDN}/metrics`)?.message, 'port 80 is not allowed (allowed: 9100, 9796)');
  assert.equal(check(policy, 'GET', `http://${FQDN}/metrics?_scheme=https`)?.message, 'port 443 is not allowed (allowed: 9100, 9796)');
  assert.equal(check(scrapePolicy({ allowPorts: [443] }), 'GET', `http://${FQDN}/metrics?_scheme=https`), undefined);
  // Method is checked first.
  assert.equal(check(policy, 'DELETE', `http://${FQDN}:22/metrics`)?.reason, 'method');
});

test('--scrape.allow: exact paths, `*` suffixes, port-only patterns; query not restricted', () => {
  const policy = scrapePolicy({ allow: parseAllowList(':9100/metrics,:9796/*,:9200,:9300/api/*') });
  const ok = (target: string): void => assert.equal(check(policy, 'GET', `http://${FQDN}${target}`), undefined, target);
  const refused = (target: string, reason: string, message?: string): void => {
    const r = check(policy, 'GET', `http://${FQDN}${target}`);
    assert.equal(r?.reason, reason, target);
    if (message !== undefined) assert.equal(r.message, message);
  };
  ok(':9100/metrics');
  ok(':9100/metrics?collect[]=cpu');
  ok(':9796/');
  ok(':9796/anything/at/all');
  ok(':9200/whatever');
  ok(':9300/api/v1');
  refused(':9100/metrics/', 'path', 'path /metrics/ on port 9100 is not allowed (allowed: /metrics)');
  refused(':9100/', 'path');
  refused(':9100?x=1', 'path', 'path / on port 9100 is not allowed (allowed: /metrics)');
  refused(':9300/api', 'path', 'path /api on port 9300 is not allowed (allowed: /api/*)');
  refused(':9300/api/../admin', 'path', 'path /api/../admin on port 9300 is not allowed: it contains dot segments');
  refused(':9300/api/%2e%2E/admin', 'path');
  refused(':9300/api/..%2fadmin', 'path');
  refused(':22/metrics', 'port', 'port 22 is not allowed (allowed by --scrape.allow: :9100/metrics, :9796/*, :9200, :9300/api/*)');
  refused('/metrics', 'port');
  // Combined with --allow-port, both must allow it.
  const both = scrapePolicy({ allowPorts: [9100], allow: parseAllowList(':9100/metrics,:9796/*') });
  assert.equal(check(both, 'GET', `http://${FQDN}:9100/metrics`), undefined);
  assert.equal(check(both, 'GET', `http://${FQDN}:9796/metrics`)?.message, 'port 9796 is not allowed (allowed: 9100)');
});

test('--use-localhost: 127.0.0.1 on the effective port, path, query, `_scheme` and credentials kept', () => {
  const t = localTarget(scrapeTarget(`http://user:p%40ss@${FQDN}:9100/metrics?a=1&_scheme=https&b=x%20y`, FQDN));
  assert.deepEqual(t, {
    origin: 'https://127.0.0.1:9100',
    path: '/metrics?a=1&b=x%20y',
    url: 'https://127.0.0.1:9100/metrics?a=1&b=x%20y',
    basicAuth: 'user:p@ss',
  });
  assert.equal(localTarget(scrapeTarget(`http://${FQDN}/m?_scheme=https`, FQDN)).origin, 'https://127.0.0.1:443');
  assert.equal(localTarget(scrapeTarget(`http://${FQDN}/m`, FQDN)).url, 'http://127.0.0.1:80/m');
  assert.equal(localTarget(scrapeTarget(`http://${FQDN}:9100`, FQDN)).url, 'http://127.0.0.1:9100/');
});

test('scrapePolicy: --use-localhost needs --allow-port; the policy is frozen', () => {
  assert.throws(() => scrapePolicy({ useLocalhost: true }), { message: USE_LOCALHOST_NEEDS_ALLOW_PORT });
  assert.throws(() => scrapePolicy({ useLocalhost: true, allowPorts: [] }), { message: USE_LOCALHOST_NEEDS_ALLOW_PORT });
  const p = scrapePolicy({ useLocalhost: true, allowPorts: [9100] });
  assert.ok(Object.isFrozen(p) && Object.isFrozen(p.allowPorts) && Object.isFrozen(p.methods));
  assert.ok(Object.isFrozen(DEFAULT_SCRAPE_POLICY) && Object.isFrozen(DEFAULT_SCRAPE_POLICY.methods));
});

test('refusals map to 403 in the shared status table', () => {
  assert.equal(HTTP_STATUS[ERROR_CODES.CLIENT_SCRAPE_REFUSED], 403);
  assert.equal(new PushProxError(ERROR_CODES.CLIENT_SCRAPE_REFUSED, 'x').status, 403);
});

test('resolveConfig puts the policy into the frozen config; --use-localhost alone is CONFIG_INVALID', async () => {
  const args: ClientArgs = {
    fqdn: FQDN,
    'proxy-url': 'http://127.0.0.1:1',
    'client.token-file': undefined,
    'tls.cacert': undefined,
    'tls.cert': undefined,
    'tls.key': undefined,
    'metrics-addr': undefined,
    'proxy.retry.initial-wait': 1000,
    'proxy.retry.max-wait': 5000,
    'proxy.retry.fast-period': 15_000,
    'scrape.concurrency': 8,
    'shutdown.timeout': 10_000,
    'log.level': 'info',
    'log.format': 'logfmt',
    'allow-port': [9100],
    'use-localhost': true,
    'scrape.allow': parseAllowList(':9100/metrics'),
    'scrape.methods': ['GET'],
  };
  const config = await resolveConfig(args);
  assert.ok(Object.isFrozen(config.scrapePolicy));
  assert.deepEqual(config.scrapePolicy.allowPorts, [9100]);
  assert.equal(config.scrapePolicy.useLocalhost, true);
  assert.deepEqual(config.scrapePolicy.methods, ['GET']);
  assert.equal(config.scrapePolicy.allow?.[0]?.source, ':9100/metrics');
  await assert.rejects(resolveConfig({ ...args, 'allow-port': undefined }), (err: unknown) => {
    assert.ok(err instanceof PushProxError);
    assert.equal(err.code, ERROR_CODES.CONFIG_INVALID);
    assert.equal(err.message, USE_LOCALHOST_NEEDS_ALLOW_PORT);
    return true;
  });
});
