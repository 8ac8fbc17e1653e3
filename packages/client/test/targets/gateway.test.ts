import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeClientMeta, HEADER_CLIENT_META } from '@pushprox/shared';
import { startClient } from '../../src/client.js';
import { resolveConfig } from '../../src/config.js';
import type { ClientArgs } from '../../src/cli.js';
import { closeServer, FakeProxy, listen, METRICS_TEXT, scrapeAll, testConfig, waitFor } from '../helpers.js';

// dist/test/targets/gateway.test.js → packages/client
const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = path.join(PKG, 'bin', 'pushprox-client.js');

function run(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, '--proxy-url=http://127.0.0.1:1', '--metrics-addr=', ...args], { encoding: 'utf8', timeout: 15_000 });
  if (r.error) throw r.error;
  return { status: r.status, stderr: r.stderr };
}

test('--label is refused with a message naming the flag, what was expected and what arrived', () => {
  const cases: Array<[string[], number, RegExp]> = [
    [['--label=site'], 2, /invalid value for --label: expected key=value, got "site"/],
    [['--label=a-b=1'], 2, /invalid value for --label: expected a Prometheus label name .* got "a-b"/],
    [['--label=__address__=x'], 2, /invalid value for --label: label "__address__" starts with "__", which Prometheus reserves/],
    [['--label=site=a', '--label=site=b'], 1, /label "site" given twice \("a" and "b"\)/],
    [['--fqdn=a.example', '--fqdn=A.example'], 1, /invalid value for --fqdn: "A\.example" given twice/],
    [['--fqdn='], 1, /invalid value for --fqdn: expected a host name, got ""/],
    [['--fqdn=a.example', '--fqdn=b.example', '--tls.auto-renew'], 1, /--tls\.auto-renew renews a certificate for one name, but --fqdn is given 2 times/],
  ];
  for (const [args, status, message] of cases) {
    const r = run(args);
    assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
  // Other flags may still be given only once.
  assert.match(run(['--allow-port=1', '--allow-port=2']).stderr, /--allow-port given more than once/);
});

test('--fqdn given twice makes a gateway: each FQDN polls with its own client-meta header carrying the labels and version', async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const args = { fqdn: ['a.example', 'b.example'], label: [['site', 'Zürich dc1'], ['env', 'prod']] } as unknown as ClientArgs;
  const resolved = await resolveConfig({
    ...({
      'proxy-url': proxy.url,
      'scrape.methods': ['GET'],
      'use-localhost': false,
      'proxy.retry.initial-wait': 20,
      'proxy.retry.max-wait': 60,
      'proxy.retry.fast-period': 0,
      'shutdown.timeout': 1000,
    } as unknown as ClientArgs),
    ...args,
  });
  assert.deepEqual(resolved.targets?.map((x) => x.fqdn), ['a.example', 'b.example']);
  assert.equal(resolved.fqdn, 'a.example');
  const client = await startClient(testConfig(proxy.url, { fqdn: resolved.fqdn, targets: resolved.targets }), { env: {}, version: '9.9.9' });
  t.after(() => client.stop());
  await waitFor(() => new Set(proxy.polls.map((p) => p.body)).size === 2, 5000, 'a poll for each FQDN');
  for (const fqdn of ['a.example', 'b.example']) {
    const poll = proxy.polls.find((p) => p.body === fqdn)!;
    const meta = decodeClientMeta(String(poll.headers[HEADER_CLIENT_META.toLowerCase()]));
    assert.deepEqual(meta, { labels: { site: 'Zürich dc1', env: 'prod' }, modules: [], version: '9.9.9' });
  }
  assert.equal(client.pollLoops, 2);
});

test('against an upstream proxy, which ignores the header, a client with labels scrapes as before', async (t) => {
  const exporter = http.createServer((_req, res) => res.end(METRICS_TEXT));
  const port = await listen(exporter);
  t.after(() => closeServer(exporter));
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const client = await startClient(
    testConfig(proxy.url, { targets: [{ fqdn: '127.0.0.1', labels: { site: 'x' }, modules: [] }] }),
    { env: {}, version: '1.0.0' },
  );
  t.after(() => client.stop());
  const [push] = await scrapeAll(proxy, `http://127.0.0.1:${port}/metrics`, 1);
  assert.equal(push!.parsed.head.status, 200);
  assert.equal(push!.parsed.body.toString(), METRICS_TEXT);
  assert.ok(proxy.polls.every((p) => typeof p.headers[HEADER_CLIENT_META.toLowerCase()] === 'string'));
});
