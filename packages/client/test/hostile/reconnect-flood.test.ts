import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEADER_RECONNECT, MAX_RECONNECT_SPREAD_MS, parseReconnectSpread, STATUS_POLL_IDLE } from '@pushprox/shared';
import { startClient } from '../../src/index.js';
import { delay, FakeProxy, testConfig } from '../helpers.js';

/** A proxy that says "reconnect" on every poll, at once, must not make the client spin. */

test('regression: a proxy answering every poll at once with X-Pushprox-Reconnect is polled at the backoff pace, not in a loop', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('ours');
  t.after(() => proxy.close());
  proxy.pollOverride = () => ({ status: STATUS_POLL_IDLE, headers: { [HEADER_RECONNECT]: '0' } });
  const client = await startClient(testConfig(proxy.url, { retryInitialWaitMs: 1000, retryMaxWaitMs: 5000, retryFastPeriodMs: 15_000 }));
  t.after(() => client.stop());
  await delay(2_000);
  // The fast phase waits 100-300, 150-450, 225-675, 300-900 ms…: a handful of polls in 2 s.
  assert.ok(proxy.polls.length >= 2 && proxy.polls.length <= 12, `${proxy.polls.length} polls in 2 s`);
});

test('a reconnect spread is clamped to 10 s and an unreadable one is 0', () => {
  assert.equal(parseReconnectSpread('500'), 500);
  assert.equal(parseReconnectSpread('99999999'), MAX_RECONNECT_SPREAD_MS);
  assert.equal(parseReconnectSpread('-1'), 0);
  assert.equal(parseReconnectSpread('1e9'), 0);
  assert.equal(parseReconnectSpread(undefined), 0);
});
