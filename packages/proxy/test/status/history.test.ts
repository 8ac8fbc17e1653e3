import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientHistory, HISTORY_LENGTH, MAX_REASON_CHARS, quantile } from '../../src/status/client-history.js';
import { FleetHistory } from '../../src/status/history.js';
import { parseClientsQuery, queryClients, BadQueryError, type ClientView } from '../../src/status/clients-query.js';
import { EMPTY_CLIENT_META } from '@pushprox/shared';
import { FakeClock } from '../routing/fake-clock.js';

test('a client keeps its last HISTORY_LENGTH scrapes, newest first, and error reasons only for failures', () => {
  const h = new ClientHistory('Host-A', 0, 'polling');
  for (let i = 0; i < HISTORY_LENGTH + 5; i++) h.record({ at: i * 1000, durationMs: i, status: i % 2 ? 500 : 200, bytes: i * 10, ...(i % 2 && { error: `broke ${i}` }) });
  const recent = h.recent();
  assert.equal(recent.length, HISTORY_LENGTH);
  assert.equal(recent[0]!.durationMs, HISTORY_LENGTH + 4);
  assert.equal(recent[0]!.error, undefined);
  assert.equal(recent[1]!.error, `broke ${HISTORY_LENGTH + 3}`);
  assert.equal(recent.at(-1)!.durationMs, 5);
  assert.equal(h.total, HISTORY_LENGTH + 5);
});

test('an error reason is cut to MAX_REASON_CHARS, and a non-2xx answer without one is named by its status', () => {
  const h = new ClientHistory('a', 0, 'channel');
  h.record({ at: 0, durationMs: 1, status: 503, bytes: 0, error: 'x'.repeat(10_000) });
  assert.equal(h.last()!.error!.length, MAX_REASON_CHARS);
  h.record({ at: 1, durationMs: 1, status: 404, bytes: 0 });
  assert.equal(h.last()!.error, 'HTTP 404');
});

test('the 5-minute counts drop scrapes older than five whole minutes; p50/p99 cover the ring within the window', () => {
  const h = new ClientHistory('a', 0, 'channel');
  const t0 = 10 * 60_000;
  h.record({ at: t0, durationMs: 1000, status: 500, bytes: 0, error: 'old' });
  for (let i = 1; i <= 10; i++) h.record({ at: t0 + 6 * 60_000 + i, durationMs: i * 10, status: 200, bytes: 1 });
  const s = h.summary(t0 + 6 * 60_000 + 100);
  assert.deepEqual(s, { scrapes: 10, errors: 0, p50Ms: 50, p99Ms: 100 });
  assert.equal(h.p99(t0 + 6 * 60_000 + 100), s.p99Ms, 'the fast p99 used for sorting is the summary\'s');
  assert.deepEqual(h.counts(t0 + 6 * 60_000 + 100), { scrapes: 10, errors: 0 });
  assert.deepEqual(h.summary(t0 + 30 * 60_000), { scrapes: 0, errors: 0, p50Ms: undefined, p99Ms: undefined });
  assert.equal(quantile([], 0.5), undefined);
});

test('the fleet history keeps only FQDNs that polled, never more than maxClients, and forgets those the registry forgot', () => {
  const clock = new FakeClock();
  const known = new Set<string>();
  const fleet = new FleetHistory({ clock, isKnown: (k) => known.has(k), maxClients: 2 });
  fleet.record('nobody.example', { durationMs: 1, status: 200, bytes: 1 });
  assert.equal(fleet.size, 0, 'a scrape for a name no client serves leaves no trace');
  for (const n of ['a', 'b', 'c']) {
    known.add(n);
    fleet.polled(n, 'polling');
  }
  assert.equal(fleet.size, 2, 'the third waits for room');
  known.delete('a');
  clock.advance(1000);
  fleet.polled('c', 'channel');
  assert.deepEqual(fleet.all().map((h) => h.name).sort(), ['b', 'c']);
  fleet.record('C', { durationMs: 5, status: 200, bytes: 123 });
  assert.equal(fleet.get('c')!.last()!.bytes, 123);
  assert.equal(fleet.largestBody, 123);
});

test('/api/v1/clients queries: search, failing, idle, label, sort, pagination; bad parameters name what was expected', () => {
  const now = 1_000_000;
  const views: ClientView[] = ['alpha', 'beta', 'gamma', 'delta'].map((name, i) => {
    const h = new ClientHistory(name, now - i, 'polling');
    if (i > 0) h.record({ at: now - 1000, durationMs: i, status: i === 2 ? 500 : 200, bytes: 1, ...(i === 2 && { error: 'boom' }) });
    return { history: h, meta: i === 3 ? { labels: { env: 'prod' }, modules: [] } : EMPTY_CLIENT_META, waitingPolls: 1, local: i !== 1, heldBy: i === 1 ? 'proxy-b:8080' : 'proxy-a:8080' };
  });
  const names = (q: string) => queryClients(views, parseClientsQuery(new URLSearchParams(q)), now).clients.map((c) => c.fqdn);
  assert.deepEqual(names(''), ['alpha', 'beta', 'delta', 'gamma']);
  assert.deepEqual(names('search=TA'), ['beta', 'delta']);
  assert.deepEqual(names('failing=true'), ['gamma']);
  assert.deepEqual(names('idle=true'), ['alpha']);
  assert.deepEqual(names('label=env'), ['delta']);
  assert.deepEqual(names('label=env=dev'), []);
  assert.deepEqual(names('heldBy=remote'), ['beta']);
  assert.deepEqual(names('heldBy=local'), ['alpha', 'delta', 'gamma']);
  assert.deepEqual(names('heldBy=proxy-b:8080'), ['beta']);
  assert.deepEqual(names('search=PROXY-B'), ['beta']);
  assert.deepEqual(names('sort=p99&order=desc'), ['delta', 'gamma', 'beta', 'alpha']);
  assert.deepEqual(names('limit=2&offset=1'), ['beta', 'delta']);
  const page = queryClients(views, parseClientsQuery(new URLSearchParams('search=a&limit=1')), now);
  assert.deepEqual({ total: page.total, matched: page.matched }, { total: 4, matched: 4 });
  assert.equal(queryClients(views, parseClientsQuery(new URLSearchParams('failing=1')), now).clients[0]!.health, 'down');
  for (const bad of ['sort=name', 'order=up', 'limit=-1', 'failing=maybe', 'offset=1e3']) {
    assert.throws(() => parseClientsQuery(new URLSearchParams(bad)), (err: unknown) => err instanceof BadQueryError && /expected/.test(err.message), bad);
  }
  assert.equal(parseClientsQuery(new URLSearchParams('limit=999999')).limit, 1000);
});

test('a client whose registration lapsed starts a new history when it polls again', () => {
  const clock = new FakeClock();
  const known = new Set<string>();
  const fleet = new FleetHistory({ clock, isKnown: (k) => known.has(k), maxClients: 10 });
  fleet.polled('a', 'polling');
  known.add('a');
  fleet.record('a', { durationMs: 1, status: 200, bytes: 1 });
  clock.advance(60_000);
  fleet.polled('a', 'channel');
  assert.equal(fleet.get('a')!.total, 1, 'a renewed registration keeps its history');
  known.delete('a');
  clock.advance(600_000);
  fleet.polled('a', 'channel');
  known.add('a');
  assert.equal(fleet.get('a')!.total, 0);
  assert.equal(fleet.get('a')!.since, clock.now());
});
