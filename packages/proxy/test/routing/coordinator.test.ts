import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, PushProxError } from '@pushprox/shared';
import { Coordinator, type PollSink, type ScrapeJob } from '../../src/routing/coordinator.js';
import { FakeClock } from './fake-clock.js';

function setup(over: Partial<{ idle: number; maxPolls: number; registration: number; linger: number }> = {}) {
  const clock = new FakeClock();
  const c = new Coordinator({
    clock,
    registrationTimeoutMs: over.registration ?? 300_000,
    pollIdleTimeoutMs: over.idle ?? 30_000,
    maxPollsPerFqdn: over.maxPolls ?? 16,
    ...(over.linger !== undefined && { surplusLingerMs: over.linger }),
  });
  return { clock, c };
}

function pollSink(alive = true) {
  const got: { jobs: ScrapeJob[]; ends: string[]; alive: boolean } = { jobs: [], ends: [], alive };
  const sink: PollSink = {
    deliver: (job) => {
      if (!got.alive) return false;
      got.jobs.push(job);
      return true;
    },
    end: (reason) => got.ends.push(reason),
  };
  return { got, sink };
}

function scrapeSink() {
  const errors: PushProxError[] = [];
  return { errors, sink: { fail: (e: PushProxError) => errors.push(e) } };
}

const job = (id: string, fqdn = 'host-a'): ScrapeJob => ({ id, fqdn, request: Buffer.from(`GET ${id}`) });

test('a waiting poll receives a scrape and the push claims it', () => {
  const { c } = setup();
  const p = pollSink();
  c.poll('host-a', { capacity: undefined, hello: false }, p.sink);
  const s = scrapeSink();
  c.scrape(job('1'), 10_000, s.sink);
  assert.deepEqual(p.got.jobs.map((j) => j.id), ['1']);
  assert.equal(c.claim('1').fqdn, 'host-a');
  c.complete('1');
  assert.deepEqual(c.stats(), { waitingPolls: 0, pendingScrapes: 0, activeScrapes: 0 });
  assert.equal(s.errors.length, 0);
});

test('a scrape that arrives first waits for the next poll of a known client', () => {
  const { c } = setup();
  const first = pollSink();
  const t = c.poll('host-a', { capacity: 1, hello: false }, first.sink);
  t.cancel();
  const s = scrapeSink();
  c.scrape(job('1'), 10_000, s.sink);
  assert.equal(c.stats().pendingScrapes, 1);
  const p = pollSink();
  c.poll('host-a', { capacity: 1, hello: false }, p.sink);
  assert.deepEqual(p.got.jobs.map((j) => j.id), ['1']);
  assert.equal(c.stats().pendingScrapes, 0);
});

test('a closed poll is forgotten at once and never gets a scrape', () => {
  const { c } = setup();
  const dead = pollSink();
  const ticket = c.poll('host-a', { capacity: undefined, hello: false }, dead.sink);
  ticket.cancel();
  assert.equal(c.stats().waitingPolls, 0);
  const live = pollSink();
  c.poll('host-a', { capacity: undefined, hello: false }, live.sink);
  c.scrape(job('1'), 10_000, scrapeSink().sink);
  assert.equal(dead.got.jobs.length, 0);
  assert.equal(live.got.jobs.length, 1);
});

test('a poll whose connection died unnoticed is skipped and the scrape goes to the next poll', () => {
  const { c } = setup();
  const dead = pollSink(false);
  const live = pollSink();
  c.poll('host-a', { capacity: 2, hello: false }, dead.sink);
  c.poll('host-a', { capacity: 2, hello: false }, live.sink);
  c.scrape(job('1'), 10_000, scrapeSink().sink);
  assert.equal(live.got.jobs.length, 1);
  assert.equal(c.stats().waitingPolls, 0);
});

test('an upstream client (no capacity) keeps one poll: a newer poll expires the older with 408', () => {
  const { c } = setup();
  const older = pollSink();
  const newer = pollSink();
  c.poll('host-a', { capacity: undefined, hello: false }, older.sink);
  c.poll('host-a', { capacity: undefined, hello: false }, newer.sink);
  assert.deepEqual(older.got.ends, ['expired']);
  assert.deepEqual(newer.got.ends, []);
  assert.equal(c.stats().waitingPolls, 1);
});

test('a client that declares capacity N keeps N polls waiting, bounded by maxPollsPerFqdn', () => {
  const { c } = setup({ maxPolls: 3 });
  const sinks = Array.from({ length: 5 }, () => pollSink());
  for (const s of sinks) c.poll('host-a', { capacity: 8, hello: false }, s.sink);
  assert.equal(c.stats().waitingPolls, 3);
  assert.deepEqual(sinks.map((s) => s.got.ends.length), [1, 1, 0, 0, 0]);
});

test('parallel scrapes of one FQDN are handed to parallel polls at once', () => {
  const { c } = setup();
  const polls = Array.from({ length: 4 }, () => pollSink());
  for (const p of polls) c.poll('host-a', { capacity: 4, hello: false }, p.sink);
  for (let i = 0; i < 4; i++) c.scrape(job(String(i)), 10_000, scrapeSink().sink);
  assert.deepEqual(polls.map((p) => p.got.jobs.length), [1, 1, 1, 1]);
  assert.equal(c.stats().pendingScrapes, 0);
});

test('idle polls of capacity-declaring clients end with idle after the idle timeout; upstream polls never do', () => {
  const { c, clock } = setup({ idle: 30_000 });
  const ours = pollSink();
  const theirs = pollSink();
  c.poll('ours', { capacity: 2, hello: false }, ours.sink);
  c.poll('theirs', { capacity: undefined, hello: false }, theirs.sink);
  clock.advance(29_999);
  assert.deepEqual(ours.got.ends, []);
  clock.advance(1);
  assert.deepEqual(ours.got.ends, ['idle']);
  clock.advance(3_600_000);
  assert.deepEqual(theirs.got.ends, []);
});

test('a hello poll is answered idle at once unless work is pending', () => {
  const { c } = setup();
  const hello = pollSink();
  c.poll('host-a', { capacity: 2, hello: true }, hello.sink);
  assert.deepEqual(hello.got.ends, ['idle']);
  c.scrape(job('1'), 10_000, scrapeSink().sink);
  const hello2 = pollSink();
  c.poll('host-a', { capacity: 2, hello: true }, hello2.sink);
  assert.equal(hello2.got.jobs.length, 1);
});

test('a client stays registered while its poll waits, past the registration timeout', () => {
  const { c, clock } = setup({ registration: 300_000 });
  const t = c.poll('host-a', { capacity: undefined, hello: false }, pollSink().sink);
  clock.advance(3_600_000);
  assert.deepEqual(c.registry.list(), ['host-a']);
  t.cancel();
  clock.advance(299_000);
  assert.deepEqual(c.registry.list(), ['host-a']);
  clock.advance(2_000);
  assert.deepEqual(c.registry.list(), []);
});

test('a scrape for an FQDN that never polled fails at once with a clear error', () => {
  const { c } = setup();
  assert.throws(
    () => c.scrape(job('1', 'ghost'), 10_000, scrapeSink().sink),
    (e: PushProxError) => e.code === ERROR_CODES.SCRAPE_UNKNOWN_CLIENT && /never polled/.test(e.message),
  );
  assert.equal(c.stats().activeScrapes, 0);
});

test('a known client gets the whole deadline to pick a scrape up', () => {
  const { c, clock } = setup();
  c.poll('host-a', { capacity: 1, hello: false }, pollSink().sink).cancel();
  const s = scrapeSink();
  c.scrape(job('1'), 10_000, s.sink);
  clock.advance(9_999);
  assert.equal(s.errors.length, 0);
  clock.advance(1);
  assert.equal(s.errors[0]?.code, ERROR_CODES.SCRAPE_TIMEOUT);
  assert.deepEqual(c.stats(), { waitingPolls: 0, pendingScrapes: 0, activeScrapes: 0 });
});

test('a push for an unknown id is refused at once; for an expired id it says expired', () => {
  const { c, clock } = setup();
  assert.throws(() => c.claim('nope'), (e: PushProxError) => e.code === ERROR_CODES.PUSH_UNKNOWN_ID);
  c.poll('host-a', { capacity: undefined, hello: false }, pollSink().sink);
  c.scrape(job('1'), 1000, scrapeSink().sink);
  clock.advance(1000);
  assert.throws(() => c.claim('1'), (e: PushProxError) => e.code === ERROR_CODES.PUSH_EXPIRED_ID);
});

test('a second push for the same id is refused', () => {
  const { c } = setup();
  c.poll('host-a', { capacity: undefined, hello: false }, pollSink().sink);
  c.scrape(job('1'), 1000, scrapeSink().sink);
  c.claim('1');
  assert.throws(() => c.claim('1'), (e: PushProxError) => e.code === ERROR_CODES.PUSH_EXPIRED_ID);
});

test('a cancelled scrape leaves nothing behind', () => {
  const { c, clock } = setup();
  c.poll('host-a', { capacity: 1, hello: false }, pollSink().sink).cancel();
  const t = c.scrape(job('1'), 10_000, scrapeSink().sink);
  t.cancel();
  assert.deepEqual(c.stats(), { waitingPolls: 0, pendingScrapes: 0, activeScrapes: 0 });
  assert.equal(clock.pendingTimers, 0);
});

test('routing ignores case, as DNS names do; /clients keeps the client spelling', () => {
  const { c } = setup();
  const p = pollSink();
  c.poll('Host-A.example', { capacity: undefined, hello: false }, p.sink);
  c.scrape(job('1', 'host-a.example'), 1000, scrapeSink().sink);
  assert.equal(p.got.jobs.length, 1);
  assert.deepEqual(c.registry.list(), ['Host-A.example']);
});

test('drain ends waiting polls and fails pending scrapes', () => {
  const { c } = setup();
  const p = pollSink();
  c.poll('a', { capacity: 1, hello: false }, p.sink);
  c.poll('b', { capacity: 1, hello: false }, pollSink().sink).cancel();
  const s = scrapeSink();
  c.scrape(job('1', 'b'), 10_000, s.sink);
  c.drain(Object.assign(new Error('x'), { code: ERROR_CODES.SHUTTING_DOWN }) as unknown as PushProxError);
  assert.deepEqual(p.got.ends, ['shutdown']);
  assert.equal(s.errors.length, 1);
  assert.deepEqual(c.stats(), { waitingPolls: 0, pendingScrapes: 0, activeScrapes: 0 });
});

test('polls answered or cancelled before the idle timeout are never ended idle and leave no timer', () => {
  const { c, clock } = setup({ idle: 30_000 });
  const answered = pollSink();
  const cancelled = pollSink();
  c.poll('host-a', { capacity: 1, hello: false }, answered.sink);
  c.poll('host-b', { capacity: 1, hello: false }, cancelled.sink).cancel();
  c.scrape(job('1'), 10_000, scrapeSink().sink);
  c.complete('1');
  assert.equal(clock.pendingTimers, 0);
  clock.advance(60_000);
  assert.deepEqual(answered.got.ends, []);
  assert.deepEqual(cancelled.got.ends, []);
});

test('a re-poll gets a whole idle timeout of its own', () => {
  const { c, clock } = setup({ idle: 30_000 });
  const first = pollSink();
  c.poll('host-a', { capacity: 1, hello: false }, first.sink);
  clock.advance(30_000);
  assert.deepEqual(first.got.ends, ['idle']);
  clock.advance(5_000);
  const again = pollSink();
  c.poll('host-a', { capacity: 1, hello: false }, again.sink);
  clock.advance(29_999);
  assert.deepEqual(again.got.ends, []);
  clock.advance(1);
  assert.deepEqual(again.got.ends, ['idle']);
});

test('waiting counts, routing order and registration stay right as an FQDN goes from one poll to several and back', () => {
  const { c, clock } = setup({ registration: 1 });
  const [a, b, d] = [pollSink(), pollSink(), pollSink()];
  c.poll('host-a', { capacity: 3, hello: false }, a.sink);
  const tb = c.poll('host-a', { capacity: 3, hello: false }, b.sink);
  c.poll('host-a', { capacity: 3, hello: false }, d.sink);
  assert.equal(c.stats().waitingPolls, 3);
  c.scrape(job('1'), 10_000, scrapeSink().sink);
  assert.deepEqual([a, b, d].map((p) => p.got.jobs.length), [1, 0, 0]);
  tb.cancel();
  assert.equal(c.stats().waitingPolls, 1);
  assert.deepEqual(c.registry.list(), ['host-a']);
  c.scrape(job('2'), 10_000, scrapeSink().sink);
  assert.deepEqual([a, b, d].map((p) => p.got.jobs.length), [1, 0, 1]);
  assert.equal(c.stats().waitingPolls, 0);
  clock.advance(2);
  assert.deepEqual(c.registry.list(), []);
});

const ours = { capacity: 8, hello: false };

test('surplus polls of a capacity-declaring client end idle after the linger; the oldest waits on', () => {
  const { c, clock } = setup({ idle: 0, linger: 5000 });
  const [a, b, d] = [pollSink(), pollSink(), pollSink()];
  c.poll('host-a', ours, a.sink);
  clock.advance(1000);
  c.poll('host-a', ours, b.sink);
  c.poll('host-a', ours, d.sink);
  clock.advance(4999);
  assert.deepEqual([a, b, d].map((p) => p.got.ends), [[], [], []]);
  clock.advance(1);
  assert.deepEqual([a, b, d].map((p) => p.got.ends), [[], ['idle'], ['idle']]);
  assert.equal(c.stats().waitingPolls, 1);
  clock.advance(1_000_000);
  assert.deepEqual(a.got.ends, []);
  assert.equal(clock.pendingTimers, 0, 'no timer for a lone waiting poll');
  c.scrape(job('1'), 10_000, scrapeSink().sink);
  assert.deepEqual(a.got.jobs.map((j) => j.id), ['1']);
});

test('a surplus poll that is the last one waiting when its linger ends waits on; a key never loses its last poll', () => {
  const { c, clock } = setup({ idle: 0, linger: 5000 });
  const [a, b, d] = [pollSink(), pollSink(), pollSink()];
  c.poll('host-a', ours, a.sink);
  c.poll('host-a', ours, b.sink);
  // The oldest poll takes the scrape; the surplus one is now the only one.
  c.scrape(job('1'), 10_000, scrapeSink().sink);
  assert.deepEqual([a, b].map((p) => p.got.jobs.length), [1, 0]);
  clock.advance(5000);
  assert.deepEqual(b.got.ends, []);
  assert.equal(c.stats().waitingPolls, 1);
  // The next poll is surplus to b: it ends, b waits on.
  c.poll('host-a', ours, d.sink);
  clock.advance(5000);
  assert.deepEqual([b, d].map((p) => p.got.ends), [[], ['idle']]);
  assert.equal(c.stats().waitingPolls, 1);
  assert.equal(clock.pendingTimers, 0);
});

test('two surplus polls whose lingers end together leave exactly one poll when the first poll has gone', () => {
  const { c, clock } = setup({ idle: 0, linger: 5000 });
  const [a, b, d] = [pollSink(), pollSink(), pollSink()];
  const ta = c.poll('host-a', ours, a.sink);
  c.poll('host-a', ours, b.sink);
  c.poll('host-a', ours, d.sink);
  ta.cancel();
  clock.advance(5000);
  assert.deepEqual([b, d].map((p) => p.got.ends), [['idle'], []]);
  assert.equal(c.stats().waitingPolls, 1);
});

test('surplus polls used within the linger are never ended and leave no timer; other FQDNs do not count as surplus', () => {
  const { c, clock } = setup({ idle: 0, linger: 5000 });
  const polls = [pollSink(), pollSink(), pollSink()];
  for (const p of polls) c.poll('host-a', ours, p.sink);
  const other = pollSink();
  c.poll('host-b', ours, other.sink);
  for (const id of ['1', '2', '3']) c.scrape(job(id), 10_000, scrapeSink().sink);
  assert.deepEqual(polls.map((p) => p.got.jobs.length), [1, 1, 1]);
  for (const id of ['1', '2', '3']) {
    c.claim(id);
    c.complete(id);
  }
  assert.equal(clock.pendingTimers, 0);
  clock.advance(10_000);
  assert.deepEqual([...polls, other].map((p) => p.got.ends), [[], [], [], []]);
});

test('a linger of 0 never ends a poll as surplus; an upstream client is never surplus: its second poll expires the first', () => {
  {
    const { c, clock } = setup({ idle: 0, linger: 0 });
    const [a, b] = [pollSink(), pollSink()];
    c.poll('host-a', ours, a.sink);
    c.poll('host-a', ours, b.sink);
    clock.advance(1_000_000);
    assert.deepEqual([a, b].map((p) => p.got.ends), [[], []]);
    assert.equal(c.stats().waitingPolls, 2);
  }
  const { c, clock } = setup({ idle: 0, linger: 5000 });
  const [a, b] = [pollSink(), pollSink()];
  const upstream = { capacity: undefined, hello: false };
  c.poll('host-a', upstream, a.sink);
  c.poll('host-a', upstream, b.sink);
  assert.deepEqual(a.got.ends, ['expired']);
  clock.advance(1_000_000);
  assert.deepEqual([a, b].map((p) => p.got.ends), [['expired'], []]);
  assert.equal(c.stats().waitingPolls, 1);
  assert.equal(clock.pendingTimers, 0);
});

test('abandon fails a handed-out scrape at once, and does nothing to one whose push has started', () => {
  const { c } = setup();
  const err = new PushProxError(ERROR_CODES.SCRAPE_CANCELLED, 'channel closed');
  c.poll('host-a', { capacity: 2, hello: false, persistent: true }, pollSink().sink);
  c.poll('host-a', { capacity: 2, hello: false, persistent: true }, pollSink().sink);
  const gone = scrapeSink();
  c.scrape(job('1'), 10_000, gone.sink);
  const answered = scrapeSink();
  c.scrape(job('2'), 10_000, answered.sink);
  c.claim('2');
  c.abandon('1', err);
  c.abandon('2', err);
  c.abandon('unknown', err);
  assert.deepEqual(gone.errors, [err]);
  assert.deepEqual(answered.errors, []);
  assert.equal(c.stats().activeScrapes, 1);
  assert.throws(() => c.claim('1'), /expired or was cancelled/);
});

test('persistent polls (channels) neither end idle nor as surplus', () => {
  const { clock, c } = setup({ idle: 1000, linger: 500 });
  const a = pollSink();
  const b = pollSink();
  c.poll('host-a', { capacity: 2, hello: false, persistent: true }, a.sink);
  c.poll('host-a', { capacity: 2, hello: false, persistent: true }, b.sink);
  clock.advance(5000);
  assert.deepEqual([a.got.ends, b.got.ends], [[], []]);
  assert.equal(c.stats().waitingPolls, 2);
});

test('a channel opening ends the waiting polls of capacity-declaring clients of its FQDN as idle, not an upstream client\'s poll, another FQDN\'s, or another channel', () => {
  const { c } = setup();
  const ours = pollSink();
  const upstream = pollSink();
  const other = pollSink();
  const channel = pollSink();
  c.poll('host-a', { capacity: undefined, hello: false }, upstream.sink);
  c.poll('host-a', { capacity: 2, hello: false }, ours.sink);
  c.poll('host-b', { capacity: 2, hello: false }, other.sink);
  c.poll('host-a', { capacity: 4, hello: false, persistent: true }, channel.sink);
  c.poll('host-a', { capacity: 4, hello: false, persistent: true }, pollSink().sink);
  assert.deepEqual(ours.got.ends, ['idle']);
  assert.deepEqual([upstream.got.ends, other.got.ends, channel.got.ends], [[], [], []]);
  // Left waiting: the upstream poll, host-b's, and the two channels; the next scrape goes to the oldest of host-a's.
  assert.equal(c.stats().waitingPolls, 4);
  c.scrape(job('1'), 10_000, scrapeSink().sink);
  assert.deepEqual(upstream.got.jobs.map((j) => j.id), ['1']);
});

test('a channel still ends a capacity-declaring poll as idle after such polls were answered, cancelled and expired before it', () => {
  const { c } = setup({ maxPolls: 1 });
  c.poll('host-a', { capacity: 1, hello: false }, pollSink().sink);
  c.scrape(job('1'), 10_000, scrapeSink().sink);
  c.poll('host-a', { capacity: 1, hello: false }, pollSink().sink).cancel();
  c.poll('host-a', { capacity: 1, hello: false }, pollSink().sink);
  const last = pollSink();
  c.poll('host-a', { capacity: 1, hello: false }, last.sink);
  assert.equal(c.stats().waitingPolls, 1);
  c.poll('host-b', { capacity: 4, hello: false, persistent: true }, pollSink().sink);
  assert.deepEqual(last.got.ends, []);
  c.poll('host-a', { capacity: 4, hello: false, persistent: true }, pollSink().sink);
  assert.deepEqual(last.got.ends, ['idle']);
});
