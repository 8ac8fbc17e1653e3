import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerTable } from '../../src/cluster/peer-table.js';
import { fleetClients } from '../../src/cluster/fleet.js';
import { Credit } from '@pushprox/shared';
import { Coordinator } from '../../src/routing/coordinator.js';
import { FakeClock } from '../routing/fake-clock.js';

const add = (proxy: string, fqdns: string[], ttlMs = 3000) => ({ v: 1, proxy, kind: 'add', ttlMs, fqdns }) as const;

test('a dead proxy\'s clients expire by themselves after their TTL', () => {
  const clock = new FakeClock();
  const t = new PeerTable(clock, 'me');
  t.apply(add('a', ['Host-1.example', 'host-2.example']));
  assert.equal(t.holderOf('host-1.example'), 'a');
  assert.deepEqual(t.names().sort(), ['Host-1.example', 'host-2.example']);
  clock.advance(3001);
  assert.equal(t.holderOf('host-1.example'), undefined);
  assert.deepEqual(t.names(), []);
  assert.equal(t.peers, 0);
  assert.equal(t.entries, 0);
});

test('a client that moved is forwarded to the proxy that announced it last', () => {
  const clock = new FakeClock();
  const t = new PeerTable(clock, 'me');
  t.apply(add('old', ['h']));
  clock.advance(100);
  t.apply(add('new', ['h']));
  assert.equal(t.holderOf('h'), 'new');
  assert.equal(t.holderOf('h', new Set(['new'])), 'old');
  t.apply({ v: 1, proxy: 'new', kind: 'bye', ttlMs: 1, fqdns: [] });
  assert.equal(t.holderOf('h'), 'old');
  t.apply({ v: 1, proxy: 'old', kind: 'del', ttlMs: 1, fqdns: ['h'] });
  assert.equal(t.holderOf('h'), undefined);
  assert.equal(t.entries, 0);
});

test('its own announcements are ignored', () => {
  const t = new PeerTable(new FakeClock(), 'me');
  t.apply(add('me', ['h']));
  assert.equal(t.entries, 0);
});

test('the fleet lists each FQDN once, the local spelling first, sorted', () => {
  assert.deepEqual(fleetClients(['b', 'Host'], ['host', 'a', 'b']), ['Host', 'a', 'b']);
  assert.deepEqual(fleetClients(['b', 'a'], []), ['b', 'a']);
});

test('a client with a poll waiting here is never forwarded, whatever peers announce', () => {
  const clock = new FakeClock();
  const table = new PeerTable(clock, 'me');
  table.apply(add('peer', ['h', 'remote']));
  const c = new Coordinator({ clock, registrationTimeoutMs: 60_000, pollIdleTimeoutMs: 0, maxPollsPerFqdn: 4, remoteHolders: table });
  c.poll('h', { capacity: undefined, hello: false }, { deliver: () => true, end: () => undefined });
  assert.equal(c.remoteHolderOf('H'), undefined);
  assert.equal(c.remoteHolderOf('remote'), 'peer');
});

test('credit: the sender waits once the window is full, an ack or an abort releases it', async () => {
  const credit = new Credit(2);
  assert.equal(await credit.next(), 1);
  assert.equal(await credit.next(), 2);
  let third: number | undefined;
  const waiting = credit.next().then((n) => (third = n));
  await new Promise((r) => setImmediate(r));
  assert.equal(third, undefined, 'a third chunk waits for an ack');
  credit.ack(99); // impossible ack: ignored
  await new Promise((r) => setImmediate(r));
  assert.equal(third, undefined);
  credit.ack(1);
  await waiting;
  assert.equal(third, 3);
  const blocked = credit.next();
  credit.abort(new Error('deadline'));
  await assert.rejects(blocked, /deadline/);
});

test('a refresh keeps an entry alive but never makes its sender the holder over one where the client waits', () => {
  const clock = new FakeClock();
  const t = new PeerTable(clock, 'me');
  t.apply(add('waits-here', ['h']));
  clock.advance(100);
  t.apply({ v: 1, proxy: 'registered-only', kind: 'add', ttlMs: 3000, fqdns: ['h'], refresh: true });
  assert.equal(t.holderOf('h'), 'waits-here');
  clock.advance(2000);
  t.apply({ v: 1, proxy: 'waits-here', kind: 'add', ttlMs: 3000, fqdns: ['h'], refresh: true });
  assert.equal(t.holderOf('h'), 'waits-here');
  clock.advance(100);
  t.apply(add('registered-only', ['h']));
  assert.equal(t.holderOf('h'), 'registered-only', 'the client now waits there');
});
