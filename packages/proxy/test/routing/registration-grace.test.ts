import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, type PushProxError } from '@pushprox/shared';
import { Coordinator, type PollSink, type ScrapeJob } from '../../src/routing/coordinator.js';
import { FakeClock } from './fake-clock.js';

/** --registration.grace: right after a start every FQDN is unknown until its client is back. */

const job = (id: string, fqdn = 'host-a'): ScrapeJob => ({ id, fqdn, request: Buffer.from(`GET ${id}`) });

function setup(graceMs: number) {
  const clock = new FakeClock();
  const c = new Coordinator({ clock, registrationTimeoutMs: 300_000, pollIdleTimeoutMs: 0, maxPollsPerFqdn: 16, registrationGraceMs: graceMs });
  return { clock, c };
}

function sinks() {
  const errors: PushProxError[] = [];
  const jobs: ScrapeJob[] = [];
  const poll: PollSink = { deliver: (j) => (jobs.push(j), true), end: () => undefined };
  return { errors, jobs, poll, scrape: { fail: (e: PushProxError) => errors.push(e) } };
}

test('within --registration.grace after start, a scrape for an unknown FQDN waits for its client to poll', () => {
  const { clock, c } = setup(15_000);
  const s = sinks();
  c.scrape(job('1'), 10_000, s.scrape);
  assert.equal(c.stats().pendingScrapes, 1);
  clock.advance(900);
  c.poll('host-a', { capacity: 1, hello: false }, s.poll);
  assert.deepEqual(s.jobs.map((j) => j.id), ['1']);
  assert.deepEqual(s.errors, []);
});

test('within the grace, a scrape whose client never comes fails at its deadline, as upstream', () => {
  const { clock, c } = setup(15_000);
  const s = sinks();
  c.scrape(job('1', 'never'), 5_000, s.scrape);
  clock.advance(5_000);
  assert.equal(s.errors[0]?.code, ERROR_CODES.SCRAPE_TIMEOUT);
  assert.equal(c.stats().pendingScrapes, 0);
});

test('after the grace, a scrape for an unknown FQDN fails at once; with no grace, from the start', () => {
  const { clock, c } = setup(15_000);
  clock.advance(15_000);
  assert.throws(() => c.scrape(job('1', 'never'), 5_000, sinks().scrape), (e: PushProxError) => e.code === ERROR_CODES.SCRAPE_UNKNOWN_CLIENT);
  const none = setup(0);
  assert.throws(() => none.c.scrape(job('2', 'never'), 5_000, sinks().scrape), (e: PushProxError) => e.code === ERROR_CODES.SCRAPE_UNKNOWN_CLIENT);
});
