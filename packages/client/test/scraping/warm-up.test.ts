import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { Agent } from 'undici';
import { startClient } from '../../src/client.js';
import { DEFAULT_WARM_UP_ROUNDS, warmUpScrapePath } from '../../src/scraping/warm-up.js';
import { counterValue, delay, FakeProxy, recordingLogger, testConfig, type LogLine } from '../helpers.js';

/** Sockets and servers this process holds now. */
function netHandles(): number {
  const handles = (process as unknown as { _getActiveHandles(): object[] })._getActiveHandles();
  return handles.filter((h) => ['Socket', 'Server'].includes(h.constructor.name)).length;
}

test('warm-up: every round scrapes the loopback exporter and pushes over the loopback channel, and nothing stays open', async (t) => {
  const agent = new Agent();
  t.after(() => agent.close());
  const before = netHandles();
  const r = await warmUpScrapePath({ dispatcher: agent, rounds: 50 });
  assert.equal(r.rounds, 50);
  assert.equal(r.ok, 50, 'a failed round would end the warm-up early');
  await delay(50);
  assert.equal(netHandles(), before, 'listeners and sockets of the warm-up are closed');
});

test('warm-up: stops starting rounds once maxMs has passed', async (t) => {
  const agent = new Agent();
  t.after(() => agent.close());
  const r = await warmUpScrapePath({ dispatcher: agent, rounds: 1_000_000, maxMs: 100 });
  assert.ok(r.rounds > 0 && r.rounds < 1_000_000, `rounds run: ${r.rounds}`);
  assert.equal(r.ok, r.rounds);
  assert.ok(r.ms < 1000, `took ${r.ms} ms for a 100 ms bound`);
});

test("warm-up: a client runs it at start, every round succeeding, and its error counters stay at zero", { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const lines: LogLine[] = [];
  const registry = new Registry();
  const client = await startClient(testConfig(proxy.url), { logger: recordingLogger(lines, true), registry });
  t.after(() => client.stop());
  const warm = lines.find((l) => l.msg === 'Warmed up the scrape path');
  assert.ok(warm, `log lines: ${lines.map((l) => l.msg).join(' | ')}`);
  assert.equal(warm.fields.rounds, DEFAULT_WARM_UP_ROUNDS);
  assert.equal(warm.fields.ok, DEFAULT_WARM_UP_ROUNDS);
  for (const name of ['pushprox_client_scrape_errors_total', 'pushprox_client_push_errors_total']) {
    assert.equal(await counterValue(registry, name), 0, name);
  }
});

test('warm-up: warmUpRounds 0 turns it off', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const lines: LogLine[] = [];
  const client = await startClient(testConfig(proxy.url), { logger: recordingLogger(lines, true), warmUpRounds: 0 });
  t.after(() => client.stop());
  assert.equal(lines.find((l) => l.msg === 'Warmed up the scrape path'), undefined);
});

test('warm-up: skipped when a forward proxy is set in the environment, since every scrape then goes through it', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const lines: LogLine[] = [];
  // NO_PROXY keeps the proxy's own URL direct; the warm-up is skipped all the same.
  const env = { HTTP_PROXY: 'http://127.0.0.1:9', NO_PROXY: '127.0.0.1' };
  const client = await startClient(testConfig(proxy.url), { logger: recordingLogger(lines, true), env });
  t.after(() => client.stop());
  assert.ok(lines.some((l) => l.msg === 'Using forward proxies from the environment'), 'the client saw the forward proxy');
  assert.equal(lines.find((l) => l.msg === 'Warmed up the scrape path'), undefined);
});
