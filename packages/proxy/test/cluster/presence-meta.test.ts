import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeClientMeta, PRESENCE_BATCH, PRESENCE_MAX_BYTES, type PresenceMessage } from '@pushprox/shared';
import { presenceBatches } from '../../src/cluster/presence-batches.js';
import { parsePresence } from '../../src/cluster/presence.js';
import { PeerTable } from '../../src/cluster/peer-table.js';
import { fleetTargetGroups, proxyName } from '../../src/cluster/fleet.js';
import { targetGroups } from '../../src/discovery/target-groups.js';
import { FakeClock } from '../routing/fake-clock.js';
import { Coordinator } from '../../src/routing/coordinator.js';
import { Cluster } from '../../src/cluster/cluster.js';
import type { ClusterConfig } from '../../src/cluster/options.js';
import { silentLogger } from '@pushprox/shared';

const base = { v: 1, proxy: 'p1', kind: 'add', ttlMs: 3000, name: 'proxy-a:8080' } as const;

/** Metadata of about 15 KiB encoded, distinct per host: 40 hosts exceed PRESENCE_MAX_BYTES (256 KiB) twice over. */
function bigMeta(i: number): string {
  const labels: Record<string, string> = {};
  for (let k = 0; k < 11; k++) labels[`l${k}`] = `${i}-${k}-`.padEnd(1000, 'x');
  return encodeClientMeta({ labels, modules: [{ name: `m${i}`, style: 'expexp' }], version: '1.2.3' });
}

test('presence of a fleet whose metadata exceeds one payload is cut into messages under PRESENCE_MAX_BYTES that carry every client once', () => {
  const names = Array.from({ length: 40 }, (_, i) => `host-${i}.example`);
  const metas = names.map((_, i) => bigMeta(i));
  const batches = presenceBatches(base, names, (n) => ({ meta: metas[names.indexOf(n)], transport: 'channel' }));
  assert.ok(batches.length >= 3, `${batches.length} messages`);
  const clock = new FakeClock();
  const table = new PeerTable(clock, 'me');
  const seen: string[] = [];
  for (const b of batches) {
    assert.ok(b.length <= PRESENCE_MAX_BYTES, `a message of ${b.length} bytes`);
    const msg = parsePresence(b);
    assert.ok(msg, 'each message parses');
    seen.push(...msg.fqdns);
    table.apply(msg);
  }
  assert.deepEqual(seen, names);
  const clients = table.clients();
  assert.equal(clients.length, 40);
  const c7 = clients.find((c) => c.name === 'host-7.example')!;
  assert.equal(c7.meta.labels['l3'], '7-3-'.padEnd(1000, 'x'));
  assert.deepEqual(c7.meta.modules, [{ name: 'm7', style: 'expexp' }]);
  assert.equal(c7.transport, 'channel');
  assert.equal(c7.proxyName, 'proxy-a:8080');
});

test('presence sends a shared label set once per message, and cuts by count at PRESENCE_BATCH', () => {
  const names = Array.from({ length: PRESENCE_BATCH + 5 }, (_, i) => `h${i}`);
  const meta = encodeClientMeta({ labels: { site: 'x' }, modules: [] });
  const batches = presenceBatches(base, names, () => ({ meta, transport: 'polling' }));
  assert.equal(batches.length, 2);
  const first = JSON.parse(batches[0]!.toString()) as PresenceMessage;
  assert.deepEqual(first.meta, [meta]);
  assert.equal(first.fqdns.length, PRESENCE_BATCH);
  assert.equal(first.metaOf![0], 0);
  assert.equal(first.transports, 'p'.repeat(PRESENCE_BATCH));
  // Clients without metadata cost one character each: no meta, no metaOf.
  const bare = JSON.parse(presenceBatches(base, ['a', 'b'], (n) => ({ meta: undefined, transport: n === 'a' ? 'channel' : undefined }))[0]!.toString()) as PresenceMessage;
  assert.equal(bare.transports, 'c-');
  assert.equal(bare.meta, undefined);
  assert.equal(bare.metaOf, undefined);
  // Withdrawals of long names are cut by bytes too.
  const long = Array.from({ length: 1500 }, (_, i) => `${i}`.padEnd(250, 'n'));
  for (const b of presenceBatches({ ...base, kind: 'del' }, long)) assert.ok(b.length <= PRESENCE_MAX_BYTES);
});

test('an older peer\'s presence (FQDNs only) is still applied: its clients are listed without labels', () => {
  const table = new PeerTable(new FakeClock(), 'me');
  const msg = parsePresence(Buffer.from(JSON.stringify({ v: 1, proxy: 'old', kind: 'add', ttlMs: 3000, fqdns: ['a.example'] })));
  assert.ok(msg);
  table.apply(msg);
  const [c] = table.clients();
  assert.equal(c!.name, 'a.example');
  assert.deepEqual(c!.meta.labels, {});
  assert.equal(c!.transport, undefined);
  assert.equal(c!.proxyName, '');
});

test('presence that breaks the metadata format is dropped, and metadata that does not decode leaves the client bare', () => {
  const bad = (extra: object) => parsePresence(Buffer.from(JSON.stringify({ v: 1, proxy: 'p', kind: 'add', ttlMs: 3000, fqdns: ['a'], ...extra })));
  assert.equal(bad({ transports: '' }), undefined, 'transports not parallel to fqdns');
  assert.equal(bad({ metaOf: [] }), undefined, 'metaOf not parallel to fqdns');
  assert.equal(bad({ meta: ['x'], metaOf: [1] }), undefined, 'index out of range');
  assert.equal(bad({ metaOf: [0.5] }), undefined, 'not an index');
  assert.equal(bad({ transports: 'x' }), undefined, 'unknown transport');
  assert.equal(bad({ meta: ['<script>'] }), undefined, 'not base64url');
  assert.equal(bad({ meta: ['x'.repeat(17 * 1024)] }), undefined, 'over the header bound');
  assert.equal(bad({ name: 'n'.repeat(300) }), undefined, 'name too long');
  const table = new PeerTable(new FakeClock(), 'me');
  const ok = bad({ meta: [Buffer.from('{"v":1,"labels":{"__x":"y"}}').toString('base64url')], metaOf: [0], transports: 'u' });
  assert.ok(ok);
  table.apply(ok);
  assert.deepEqual(table.clients()[0]!.meta.labels, {});
  assert.equal(table.hasClientMeta, false);
});

test('a client\'s metadata follows its holder: a new announcement replaces it, a withdrawal forgets it', () => {
  const table = new PeerTable(new FakeClock(), 'me');
  const m1 = encodeClientMeta({ labels: { a: '1' }, modules: [] });
  const m2 = encodeClientMeta({ labels: { a: '2' }, modules: [] });
  table.apply({ ...base, fqdns: ['h'], meta: [m1], metaOf: [0], transports: '-' });
  assert.equal(table.metaOf('h').labels['a'], '1');
  table.apply({ ...base, fqdns: ['h'], meta: [m2], metaOf: [0], transports: '-' });
  // An older peer's refresh (FQDNs only) keeps what was announced.
  table.apply({ ...base, fqdns: ['h'] });
  assert.equal(table.metaOf('h').labels['a'], '2');
  assert.equal(table.metaOf('h').labels['a'], '2');
  table.apply({ ...base, kind: 'del', fqdns: ['h'] });
  assert.equal(table.hasClientMeta, false);
  assert.equal(table.entries, 0);
});

test('the fleet\'s /clients groups remote clients exactly as the local target groups do', () => {
  const clock = new FakeClock();
  const table = new PeerTable(clock, 'me');
  const meta = { labels: { site: 'berlin' }, modules: [{ name: 'node', style: 'expexp' as const }] };
  table.apply({ ...base, fqdns: ['b.example', 'c.example'], meta: [encodeClientMeta(meta)], metaOf: [0, -1], transports: 'cu' });
  const fleet = fleetTargetGroups({ names: ['a.example'], metaOf: () => ({ labels: {}, modules: [] }), anyMeta: false }, table.clients());
  const local = targetGroups(['a.example', 'b.example', 'c.example'], (f) => (f === 'b.example' ? meta : { labels: {}, modules: [] }), true);
  assert.equal(JSON.stringify(fleet), JSON.stringify(local));
  // Nobody sends labels or modules: upstream's shape, one group per name.
  const bare = new PeerTable(clock, 'me');
  bare.apply({ ...base, fqdns: ['z.example'] });
  assert.equal(
    JSON.stringify(fleetTargetGroups({ names: ['a.example'], metaOf: () => ({ labels: {}, modules: [] }), anyMeta: false }, bare.clients())),
    '[{"targets":["a.example"],"labels":{}},{"targets":["z.example"],"labels":{}}]',
  );
});

test('a proxy is named by its listen address, or by host name and port when it listens on every address', () => {
  assert.equal(proxyName('127.0.0.1:8080', 'h'), '127.0.0.1:8080');
  assert.equal(proxyName('[::1]:8080', 'h'), '[::1]:8080');
  assert.equal(proxyName('[::]:8080', 'h'), 'h:8080');
  assert.equal(proxyName('0.0.0.0:9', 'h'), 'h:9');
  assert.equal(proxyName('', 'h'), 'h');
});

test('within the grace a scrape for a client known nowhere waits, and leaves for the peer that announces it at once', () => {
  const clock = new FakeClock();
  const table = new PeerTable(clock, 'me');
  let settled = false;
  const remoteHolders = { holderOf: (k: string) => table.holderOf(k), get settled() { return settled; } };
  const c = new Coordinator({ clock, registrationTimeoutMs: 60_000, pollIdleTimeoutMs: 0, maxPollsPerFqdn: 4, remoteHolders, registrationGraceMs: 30_000 });
  const moved: string[] = [];
  const failed: string[] = [];
  const sink = { fail: (e: Error) => failed.push(e.message), moved: (p: string) => moved.push(p) };
  c.scrape({ id: '1', fqdn: 'H.example', request: Buffer.alloc(0) }, 10_000, sink);
  c.remoteAppeared('h.example');
  assert.deepEqual(moved, [], 'nobody holds it yet: it keeps waiting');
  table.apply({ ...base, fqdns: ['h.example'] });
  c.remoteAppeared('h.example');
  assert.deepEqual(moved, ['p1']);
  assert.equal(c.stats().pendingScrapes, 0);
  clock.advance(20_000);
  assert.deepEqual(failed, [], 'its deadline timer stopped when it left');
  // After the grace, not yet settled (joining): an FQDN known nowhere still waits; once settled it fails at once.
  clock.advance(20_000);
  c.scrape({ id: '2', fqdn: 'nobody.example', request: Buffer.alloc(0) }, 1_000, sink);
  clock.advance(1_000);
  assert.match(failed[0] ?? '', /Timeout reached/);
  settled = true;
  assert.throws(() => c.scrape({ id: '3', fqdn: 'nobody.example', request: Buffer.alloc(0) }, 1_000, sink), /no client registered/);
});

test('a clustered proxy that has not joined NATS waits for no fleet: after the grace an FQDN known nowhere fails at once, as a proxy alone', () => {
  const clock = new FakeClock();
  // Never started: no NATS connection, as when NATS is unreachable from the start.
  const cluster = new Cluster({ natsUrls: ['nats://127.0.0.1:1'] } as unknown as ClusterConfig, silentLogger, clock);
  assert.equal(cluster.settled, true);
  const c = new Coordinator({ clock, registrationTimeoutMs: 60_000, pollIdleTimeoutMs: 0, maxPollsPerFqdn: 4, remoteHolders: cluster, registrationGraceMs: 15_000 });
  const failed: string[] = [];
  const sink = { fail: (e: Error) => failed.push(e.message), moved: () => undefined };
  c.scrape({ id: '1', fqdn: 'early.example', request: Buffer.alloc(0) }, 1_000, sink);
  clock.advance(1_000);
  assert.match(failed[0] ?? '', /Timeout reached/, 'within the grace it waited for a poll');
  clock.advance(15_000);
  assert.throws(() => c.scrape({ id: '2', fqdn: 'late.example', request: Buffer.alloc(0) }, 1_000, sink), /no client registered/);
});
