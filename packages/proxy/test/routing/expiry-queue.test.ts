import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExpiryQueue } from '../../src/routing/expiry-queue.js';
import { FakeClock } from './fake-clock.js';

interface Item {
  readonly name: string;
  live: boolean;
}

function setup(ttlMs = 1000) {
  const clock = new FakeClock();
  const expired: string[] = [];
  const q = new ExpiryQueue<Item>(
    clock,
    ttlMs,
    (i) => i.live,
    (i) => {
      expired.push(i.name);
      // The owner's side of the contract: an item ending by expiry is reported too.
      i.live = false;
      q.ended();
    },
  );
  const add = (name: string): Item => {
    const item = { name, live: true };
    q.add(item);
    return item;
  };
  const end = (item: Item): void => {
    item.live = false;
    q.ended();
  };
  return { clock, q, expired, add, end };
}

test('entries expire in the order they came, each exactly ttl after it was added, on one timer', () => {
  const { clock, expired, add } = setup(1000);
  add('a');
  clock.advance(300);
  add('b');
  clock.advance(300);
  add('c');
  assert.equal(clock.pendingTimers, 1);
  clock.advance(399);
  assert.deepEqual(expired, []);
  clock.advance(1);
  assert.deepEqual(expired, ['a']);
  clock.advance(299);
  assert.deepEqual(expired, ['a']);
  clock.advance(1);
  assert.deepEqual(expired, ['a', 'b']);
  clock.advance(300);
  assert.deepEqual(expired, ['a', 'b', 'c']);
  assert.equal(clock.pendingTimers, 0);
});

test('an entry that ended early never expires, and no timer is left once nothing is live', () => {
  const { clock, q, expired, add, end } = setup(1000);
  const a = add('a');
  add('b');
  end(a);
  clock.advance(1000);
  assert.deepEqual(expired, ['b']);
  const c = add('c');
  end(c);
  assert.equal(clock.pendingTimers, 0);
  assert.equal(q.length, 0);
  clock.advance(5000);
  assert.deepEqual(expired, ['b']);
});

test('entries that ended early do not pile up behind a live one: at most 2 × live + 64 are held', () => {
  const { clock, q, expired, add, end } = setup(30_000);
  add('keeper');
  for (let i = 0; i < 10_000; i++) end(add(`short-${i}`));
  assert.ok(q.length <= 2 * 1 + 64, `holds ${q.length} entries for 1 live one`);
  const later = add('later');
  clock.advance(30_000);
  assert.deepEqual(expired, ['keeper', 'later']);
  assert.equal(later.live, false);
  assert.equal(q.length, 0);
});
