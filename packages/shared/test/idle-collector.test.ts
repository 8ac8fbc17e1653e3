import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import { IdleCollector } from '../src/memory/idle-collector.js';
import { v8Gc } from '../src/memory/gc.js';

/** A heap whose size the test sets; `hooks` are the collector's heapUsed and collect, which brings it back to `live`. */
function fakeHeap(live: number) {
  const h = { used: live, live, collections: 0 };
  const hooks = {
    heapUsed: () => h.used,
    collect: () => {
      h.collections++;
      h.used = h.live;
    },
  };
  return { h, hooks };
}

test('idle collector: collects once the heap has grown and nothing is in flight', async () => {
  const f = fakeHeap(10_000_000);
  const c = new IdleCollector({ isBusy: () => false, intervalMs: 20, minGrowthBytes: 1000, ...f.hooks });
  c.start();
  try {
    f.h.used += 5000;
    await sleep(80);
    assert.equal(f.h.collections, 1, 'one collection for one growth');
    assert.equal(c.collections, 1);
    assert.equal(f.h.used, f.h.live);
  } finally {
    c.stop();
  }
});

test('idle collector: leaves a heap that grew less than minGrowthBytes alone', async () => {
  const f = fakeHeap(10_000_000);
  const c = new IdleCollector({ isBusy: () => false, intervalMs: 10, minGrowthBytes: 1000, ...f.hooks });
  c.start();
  try {
    f.h.used += 999;
    await sleep(80);
    assert.equal(f.h.collections, 0);
  } finally {
    c.stop();
  }
});

test('idle collector: waits while a scrape is in flight and collects at the first idle look', async () => {
  const f = fakeHeap(1_000_000);
  let busy = true;
  let busyLooks = 0;
  const quick = new IdleCollector({
    isBusy: () => {
      if (busy) busyLooks++;
      return busy;
    },
    intervalMs: 30,
    retryMs: 5,
    minGrowthBytes: 1,
    ...f.hooks,
  });
  f.h.used += 10;
  quick.start();
  try {
    await sleep(60);
    assert.equal(f.h.collections, 0, 'no collection while busy');
    assert.ok(busyLooks >= 2, `expected retries while busy, got ${busyLooks} looks`);
    busy = false;
    await sleep(30);
    assert.equal(f.h.collections, 1, 'collected at the first look without work in flight');
  } finally {
    quick.stop();
  }
});

test('idle collector: retries while busy are bounded by the interval', async () => {
  const f = fakeHeap(1_000_000);
  let looks = 0;
  const c = new IdleCollector({
    isBusy: () => {
      looks++;
      return true;
    },
    intervalMs: 40,
    retryMs: 10,
    minGrowthBytes: 1,
    ...f.hooks,
  });
  f.h.used += 10;
  c.start();
  await sleep(250);
  c.stop();
  const after = looks;
  await sleep(50);
  assert.equal(f.h.collections, 0);
  // Regular looks every 40 ms with retries every 10 ms in between: about 25 looks in 250 ms, never a busy loop.
  assert.ok(looks > 5 && looks < 40, `expected a bounded number of looks, got ${looks}`);
  assert.equal(looks, after, 'no look after stop()');
});

test('idle collector: rejects an interval that is not positive', () => {
  assert.throws(() => new IdleCollector({ isBusy: () => false, intervalMs: 0 }), /expected a positive number of milliseconds, got 0/);
});

/**
 * About 3 MB of objects that die in the old generation. Made in a function of
 * its own: a suspended async function keeps its registers, which could hold
 * them alive.
 */
function makeOldGarbage(): void {
  const junk: object[] = [];
  for (let i = 0; i < 30_000; i++) junk.push({ i, s: `x${i}` });
  // Two scavenges while it is reachable promote it to the old generation before it dies.
  v8Gc()!({ type: 'minor', execution: 'sync' });
  v8Gc()!({ type: 'minor', execution: 'sync' });
  assert.equal(junk.length, 30_000);
}

test("idle collector: V8's own collection frees the garbage of the old generation", async () => {
  // Every reading of the heap: at a look that collects, the last two are the heap just before and just after.
  const seen: number[] = [];
  const heapUsed = (): number => {
    const used = v8.getHeapStatistics().used_heap_size;
    seen.push(used);
    return used;
  };
  // A full collection first, so that no marking V8 started on its own can take the garbage before the look.
  v8Gc()!();
  await sleep(50);
  // The baseline is the heap before the garbage exists. The garbage is small enough (about 3 MB) that
  // V8 starts no mark-compact of its own for it, as in a client whose heap creeps.
  const c = new IdleCollector({ isBusy: () => false, intervalMs: 100, minGrowthBytes: 1024 * 1024, heapUsed });
  makeOldGarbage();
  c.start();
  try {
    for (let i = 0; i < 100 && c.collections === 0; i++) await sleep(5);
    assert.ok(c.collections >= 1, 'the real gc() ran');
    assert.equal(seen.length, 2, 'the baseline and the look that collected');
    const before = seen.at(-1)!;
    // The reading after the collection, once V8 has swept (half the interval later here).
    for (let i = 0; i < 100 && seen.length < 3; i++) await sleep(10);
    const after = seen.at(-1)!;
    assert.ok(after < before - 1024 * 1024, `expected the collection to free more than 1 MB: ${before} -> ${after}`);
  } finally {
    c.stop();
  }
});
