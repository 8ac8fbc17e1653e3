import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PROXY_WARM_UP_ROUNDS, warmUpProxy } from '../../src/lifecycle/warm-up.js';
import { spawnProxy } from '../proxy-process.js';

/** Sockets, servers and timers this process holds now. */
function handles(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const h of (process as unknown as { _getActiveHandles(): object[] })._getActiveHandles()) {
    const kind = h.constructor.name;
    if (['Socket', 'Server'].includes(kind)) out[kind] = (out[kind] ?? 0) + 1;
  }
  return out;
}

test('proxy warm-up: every round is answered through its own proxy and channel, and nothing stays open', async () => {
  const before = handles();
  const r = await warmUpProxy({ rounds: 40, maxMs: 10_000 });
  assert.equal(r.rounds, 40, 'a failed round would end the warm-up early');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(handles(), before, 'its listener and sockets are closed');
  // The coordinator's and channels' timers are released with its proxy: a referenced one would keep this test process alive.
  const timers = process.getActiveResourcesInfo().filter((k) => k === 'Timeout');
  assert.ok(timers.length <= 1, `timers left: ${timers.length}`);
});

test('proxy warm-up: stops starting rounds once maxMs has passed', async () => {
  const r = await warmUpProxy({ rounds: 1_000_000, maxMs: 100 });
  assert.ok(r.rounds > 0 && r.rounds < 1_000_000, `rounds run: ${r.rounds}`);
  assert.ok(r.ms < 2_000, `took ${r.ms} ms for a 100 ms bound`);
});

test('proxy warm-up: 0 rounds does nothing', async () => {
  assert.deepEqual(await warmUpProxy({ rounds: 0 }), { rounds: 0, ms: 0 });
});

test('proxy warm-up: the real proxy runs it at start, and none of it shows in its /clients or metrics', { timeout: 30_000 }, async (t) => {
  const proxy = await spawnProxy(['--log.level=debug']);
  t.after(() => proxy.stop());
  const base = `http://127.0.0.1:${proxy.port}`;
  assert.deepEqual(await (await fetch(`${base}/clients`)).json(), []);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /^pushprox_proxy_clients 0$/m);
  assert.doesNotMatch(metrics, /^pushproxy_proxied_requests_total\{/m, 'no scrape was counted');
  assert.doesNotMatch(metrics, /warm-up/);
  assert.match(proxy.log(), new RegExp(`msg="Warmed up the scrape path" rounds=${DEFAULT_PROXY_WARM_UP_ROUNDS} `));
});
