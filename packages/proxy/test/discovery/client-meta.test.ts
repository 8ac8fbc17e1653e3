import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHANNEL_PROTOCOL, encodeClientMeta, HEADER_CHANNEL, HEADER_CLIENT_META, PATH_POLL, silentLogger, type ClientMeta } from '@pushprox/shared';
import { startProxy } from '../../src/listeners/server.js';
import { exchange, sleep, TEST_CONFIG, until, withProxy } from '../helpers.js';
import { send } from '../hostile/hostile-helpers.js';
import { ClientMetaStore } from '../../src/routing/client-meta-store.js';

/** Client metadata (labels, modules) on polls and channels, and the /clients listing it makes. */

const hello = (fqdn: string, meta?: string): string =>
  `POST /poll HTTP/1.1\r\nHost: p\r\nX-Pushprox-Poll-Capacity: 1\r\nX-Pushprox-Hello: 1\r\n` +
  (meta === undefined ? '' : `${HEADER_CLIENT_META}: ${meta}\r\n`) +
  `Content-Length: ${fqdn.length}\r\n\r\n${fqdn}`;

const channelUpgrade = (fqdn: string, meta: string): Buffer =>
  Buffer.from(
    `GET ${PATH_POLL} HTTP/1.1\r\nHost: p\r\nConnection: Upgrade\r\nUpgrade: ${CHANNEL_PROTOCOL}\r\n${HEADER_CHANNEL}: ${fqdn}\r\n${HEADER_CLIENT_META}: ${meta}\r\n\r\n`,
  );

const enc = (meta: Partial<ClientMeta>): string => encodeClientMeta({ labels: {}, modules: [], ...meta });

async function clients(port: number): Promise<{ text: string; type: string | undefined; status: number }> {
  const r = await exchange(port, 'GET /clients HTTP/1.1\r\nHost: p\r\nX-Prometheus-Refresh-Interval-Seconds: 60\r\n\r\n');
  return { text: r.body.toString('utf8'), type: r.head.headers.get('content-type'), status: r.head.status };
}

test('a fleet with no labels and no modules (version only, or no header) gets upstream\'s /clients, byte for byte', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    assert.equal((await clients(port)).text, '[]\n', 'http_sd: an empty fleet is 200 with []');
    assert.equal((await exchange(port, hello('b.example', enc({ version: '1.2.3' })))).head.status, 204);
    assert.equal((await exchange(port, hello('a.example'))).head.status, 204);
    const got = await clients(port);
    assert.equal(got.status, 200);
    assert.equal(got.type, 'application/json');
    assert.equal(got.text, '[{"targets":["a.example"],"labels":{}},{"targets":["b.example"],"labels":{}}]\n');
    assert.equal(proxy.coordinator.clientMeta('B.example').version, '1.2.3');
  });
});

test('labels group clients by label set; each module is a target group that one file_sd or http_sd job scrapes with no relabelling', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const zrh = enc({ labels: { site: 'zürich', env: 'prod' } });
    for (const [fqdn, meta] of [
      ['b.example', zrh],
      ['a.example', zrh],
      ['c.example', enc({ labels: { site: 'gva' }, modules: [{ name: 'node', style: 'expexp' }, { name: 'mysql', style: 'oitc' }] })],
      ['d.example', undefined],
    ] as const) {
      assert.equal((await exchange(port, hello(fqdn, meta))).head.status, 204, fqdn);
    }
    const got = await clients(port);
    assert.equal(got.type, 'application/json');
    assert.deepEqual(JSON.parse(got.text), [
      { targets: ['a.example', 'b.example'], labels: { env: 'prod', site: 'zürich' } },
      { targets: ['c.example'], labels: { __metrics_path__: '/proxy', __param_module: 'node', module: 'node', site: 'gva' } },
      { targets: ['c.example'], labels: { __metrics_path__: '/prometheus', __param_exporter: 'mysql', exporter: 'mysql', site: 'gva' } },
      { targets: ['d.example'], labels: {} },
    ]);
    assert.match(got.text, /zürich/, 'UTF-8 as http_sd requires, not \\u escapes');
    assert.deepEqual(proxy.coordinator.clientMeta('c.example').modules.map((m) => m.name), ['node', 'mysql']);
    assert.deepEqual(proxy.coordinator.clientMeta('nobody.example'), { labels: {}, modules: [] });
  });
});

test('a newer poll with different labels changes the listing; a poll with none clears them', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    await exchange(port, hello('a.example', enc({ labels: { site: 'one' } })));
    assert.deepEqual(JSON.parse((await clients(port)).text), [{ targets: ['a.example'], labels: { site: 'one' } }]);
    await exchange(port, hello('A.example', enc({ labels: { site: 'two' } })));
    assert.deepEqual(JSON.parse((await clients(port)).text), [{ targets: ['a.example'], labels: { site: 'two' } }]);
    await exchange(port, hello('a.example'));
    assert.equal((await clients(port)).text, '[{"targets":["a.example"],"labels":{}}]\n');
  });
});

test('a bad client-meta header gets 400 naming the header and the fault, and the poll or channel is not registered', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const bad = Buffer.from(JSON.stringify({ v: 1, labels: { __address__: 'evil:80' } })).toString('base64url');
    const cases: Array<[string, RegExp]> = [
      [bad, /X-Pushprox-Client-Meta: label name "__address__" starts with "__"/],
      ['not base64!', /X-Pushprox-Client-Meta must be base64url/],
      ['e30', /X-Pushprox-Client-Meta version undefined is not supported; expected 1/],
      ['A'.repeat(16_000), /X-Pushprox-Client-Meta does not decode to JSON/],
    ];
    for (const [value, message] of cases) {
      const r = await exchange(port, hello('bad.example', value));
      assert.equal(r.head.status, 400, value.slice(0, 20));
      assert.match(r.body.toString(), message);
    }
    // Past Node's 16 KiB head limit the poll never reaches the handler: 431, still refused.
    assert.equal((await exchange(port, hello('bad.example', 'A'.repeat(20_000)))).head.status, 431);
    const ch = await send(port, channelUpgrade('bad-channel.example', bad), 3_000);
    assert.match(ch.bytes.toString('latin1'), /^HTTP\/1\.1 400 [^]*starts with "__"/);
    assert.equal((await clients(port)).text, '[]\n');
    // Still serving.
    assert.equal((await exchange(port, hello('good.example', enc({ labels: { a: 'b' } })))).head.status, 204);
  });
});

test('a channel upgrade carries the metadata; the channel keeps it for every poll it makes', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    // Past Node's 16 KiB head limit the poll never reaches the handler: 431, still refused.
    assert.equal((await exchange(port, hello('bad.example', 'A'.repeat(20_000)))).head.status, 431);
    const ch = await send(port, channelUpgrade('chan.example', enc({ labels: { via: 'channel' } })), 300);
    assert.match(ch.bytes.toString('latin1'), /^HTTP\/1\.1 101 /);
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    assert.deepEqual(JSON.parse((await clients(port)).text), [{ targets: ['chan.example'], labels: { via: 'channel' } }]);
  });
});

test('metadata is forgotten with the registration, and identical headers share one copy within a byte budget', async () => {
  await withProxy({ registrationTimeoutMs: 200 }, async (proxy) => {
    const port = proxy.address.port;
    await exchange(port, hello('gone.example', enc({ labels: { a: 'b' } })));
    assert.equal(proxy.coordinator.hasClientMeta, true);
    await sleep(300);
    assert.equal((await clients(port)).text, '[]\n');
    assert.equal(proxy.coordinator.hasClientMeta, false);
  });
  const one = enc({ labels: { site: 'x'.repeat(50) } });
  // Room for two distinct values, not three.
  const store = new ClientMetaStore(5 * one.length);
  for (let i = 0; i < 100; i++) assert.equal(store.set(`h${i}`, store.decode(one)), true);
  assert.deepEqual(store.stats(), { distinct: 1, bytes: 2 * one.length });
  const other = enc({ labels: { site: 'y'.repeat(50) } });
  assert.equal(store.set('h0', store.decode(other)), true);
  const third = enc({ labels: { site: 'z'.repeat(50) } });
  assert.equal(store.set('h1', store.decode(third)), false, 'over budget: not stored');
  assert.deepEqual(store.get('h1'), { labels: {}, modules: [] });
  assert.equal(store.stats().distinct, 2);
  for (let i = 0; i < 100; i++) store.delete(`h${i}`);
  assert.deepEqual(store.stats(), { distinct: 0, bytes: 0 });
  assert.equal(store.empty, true);
});

test('a push-and-poll carries the metadata too: the poll it becomes sets the FQDN\'s labels', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const poll = exchange(port, 'POST /poll HTTP/1.1\r\nHost: p\r\nX-Pushprox-Poll-Capacity: 1\r\nContent-Length: 6\r\n\r\nhost-a');
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    const scraped = exchange(port, 'GET http://host-a:9100/metrics HTTP/1.1\r\nHost: host-a:9100\r\nX-Prometheus-Scrape-Timeout-Seconds: 5\r\n\r\n');
    const id = /\r\nId: ([^\r]+)\r\n/i.exec((await poll).body.toString())![1]!;
    const inner = `HTTP/1.1 200 OK\r\nContent-Length: 5\r\nId: ${id}\r\n\r\nup 1\n`;
    const meta = enc({ labels: { via: 'push-poll' } });
    const pushed = exchange(
      port,
      `POST /push HTTP/1.1\r\nHost: p\r\nX-Pushprox-Push-Poll: host-a\r\nX-Pushprox-Poll-Capacity: 1\r\n${HEADER_CLIENT_META}: ${meta}\r\n` +
        `Content-Length: ${inner.length}\r\n\r\n${inner}`,
      3_000,
    ).catch(() => undefined);
    assert.equal((await scraped).body.toString(), 'up 1\n');
    await until(() => proxy.coordinator.clientMeta('host-a').labels['via'] === 'push-poll', 2000, 'labels from the push-and-poll');
    assert.deepEqual(JSON.parse((await clients(port)).text), [{ targets: ['host-a'], labels: { via: 'push-poll' } }]);
    await proxy.close();
    await pushed;
  });
});

test('hostile: a flood of distinct metadata under many FQDNs stays within the byte budget; every poll is still served and the refusal is logged once', async () => {
  const lines: string[] = [];
  const logger = {
    ...silentLogger,
    warn: (msg: string) => void lines.push(msg),
    child: () => logger,
  };
  const proxy = await startProxy({ ...TEST_CONFIG }, { logger, clientMetaBytes: 4096 });
  try {
    const port = proxy.address.port;
    const statuses = new Set<number>();
    for (let i = 0; i < 200; i++) {
      statuses.add((await exchange(port, hello(`flood-${i}.example`, enc({ labels: { n: String(i), pad: 'x'.repeat(100) } })))).head.status);
    }
    assert.deepEqual(statuses, new Set([204]));
    const groups = JSON.parse((await clients(port)).text) as Array<{ targets: string[]; labels: Record<string, string> }>;
    const labelled = groups.filter((g) => Object.keys(g.labels).length > 0).length;
    const bare = groups.filter((g) => Object.keys(g.labels).length === 0).flatMap((g) => g.targets).length;
    assert.ok(labelled > 0 && labelled < 20, `only what fits 4 KiB keeps its labels, got ${labelled}`);
    assert.equal(labelled + bare, 200, 'every FQDN is listed');
    assert.equal(lines.filter((l) => /memory budget is spent/.test(l)).length, 1, 'one warning line, then a count a minute');
  } finally {
    await proxy.close();
  }
});
