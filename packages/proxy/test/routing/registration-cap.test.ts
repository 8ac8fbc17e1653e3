import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHANNEL_PROTOCOL, HEADER_CHANNEL, HEADER_ID, HEADER_PUSH_POLL, PATH_POLL } from '@pushprox/shared';
import { exchange, sleep, withProxy } from '../helpers.js';
import { parkScrape, send } from '../hostile/hostile-helpers.js';

/** --registration.max-clients: a flood of made-up FQDNs cannot grow the registry (and /clients) past it. */

const hello = (fqdn: string): string =>
  `POST /poll HTTP/1.1\r\nHost: p\r\nX-Pushprox-Poll-Capacity: 1\r\nX-Pushprox-Hello: 1\r\nContent-Length: ${fqdn.length}\r\n\r\n${fqdn}`;

const channelUpgrade = (fqdn: string): Buffer =>
  Buffer.from(`GET ${PATH_POLL} HTTP/1.1\r\nHost: p\r\nConnection: Upgrade\r\nUpgrade: ${CHANNEL_PROTOCOL}\r\n${HEADER_CHANNEL}: ${fqdn}\r\n\r\n`);

test('regression: a flood of made-up FQDNs registers at most --registration.max-clients; the next gets 503 naming the flag; registered ones still poll', async () => {
  await withProxy({ registrationMaxClients: 50, registrationTimeoutMs: 60_000 }, async (proxy) => {
    const port = proxy.address.port;
    for (let i = 0; i < 50; i++) assert.equal((await exchange(port, hello(`host-${i}.example`))).head.status, 204);
    const refused = [];
    for (let i = 50; i < 250; i++) refused.push((await exchange(port, hello(`flood-${i}.example`))).head.status);
    assert.deepEqual(new Set(refused), new Set([503]));
    const one = await exchange(port, hello('one-more.example'));
    assert.match(one.body.toString(), /expected at most 50 registered clients \(--registration\.max-clients\), refusing one more: "one-more\.example"/);
    // A registered client is never refused, whatever the spelling.
    assert.equal((await exchange(port, hello('HOST-7.example'))).head.status, 204);
    // A channel for a new FQDN is refused before the upgrade.
    const ch = await send(port, channelUpgrade('flood-channel.example'), 3_000);
    assert.match(ch.bytes.toString('latin1'), /^HTTP\/1\.1 503 /);
    const clients = JSON.parse((await exchange(port, 'GET /clients HTTP/1.1\r\nHost: p\r\n\r\n')).body.toString()) as unknown[];
    assert.equal(clients.length, 50);
    const metrics = (await exchange(port, 'GET /metrics HTTP/1.1\r\nHost: p\r\n\r\n')).body.toString();
    assert.match(metrics, /^pushprox_proxy_registrations_refused_total 202$/m);
    assert.match(metrics, /^pushprox_proxy_max_clients 50$/m);
    assert.match(metrics, /^pushprox_proxy_clients 50$/m);
  });
});

test('a full registry admits a new FQDN once a registration has expired', async () => {
  await withProxy({ registrationMaxClients: 3, registrationTimeoutMs: 300 }, async (proxy) => {
    const port = proxy.address.port;
    for (const n of ['a', 'b', 'c']) assert.equal((await exchange(port, hello(`${n}.example`))).head.status, 204);
    assert.equal((await exchange(port, hello('d.example'))).head.status, 503);
    // Expired after 300 ms; a full table is swept at most once a second.
    await sleep(1_100);
    assert.equal((await exchange(port, hello('d.example'))).head.status, 204);
    assert.deepEqual(proxy.coordinator.registry.list(), ['d.example']);
  });
});

test('a push asking for a poll of one FQDN more than --registration.max-clients is relayed and answered plainly, and registers nothing', async () => {
  await withProxy({ registrationMaxClients: 1 }, async (proxy) => {
    const port = proxy.address.port;
    const parked = await parkScrape(proxy, 'host-a', '5');
    const inner = `HTTP/1.1 200 OK\r\nContent-Length: 5\r\n${HEADER_ID}: ${parked.id}\r\n\r\nup 1\n`;
    const push = await exchange(
      port,
      `POST /push HTTP/1.1\r\nHost: p\r\n${HEADER_PUSH_POLL}: flood.example\r\nX-Pushprox-Poll-Capacity: 1\r\nContent-Length: ${inner.length}\r\n\r\n${inner}`,
    );
    assert.equal(push.head.status, 200);
    assert.equal(push.head.headers.get(HEADER_PUSH_POLL), undefined);
    assert.match((await parked.answer).bytes.toString('latin1'), /up 1\n$/);
    assert.deepEqual(proxy.coordinator.registry.list(), ['host-a']);
    assert.equal(proxy.coordinator.stats().waitingPolls, 0);
  });
});
