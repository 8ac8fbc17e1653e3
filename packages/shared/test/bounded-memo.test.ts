import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedMemo } from '../src/index.js';

test('BoundedMemo computes a key once, never keeps an over-long key or a throw, and empties itself when full', () => {
  const calls: string[] = [];
  const memo = new BoundedMemo<string>(2, 5);
  const upper = (k: string): string => {
    calls.push(k);
    if (k === 'bad') throw new Error('no');
    return k.toUpperCase();
  };
  assert.equal(memo.get('a', upper), 'A');
  assert.equal(memo.get('a', upper), 'A');
  assert.deepEqual(calls, ['a']);
  assert.equal(memo.get('longer', upper), 'LONGER');
  assert.equal(memo.get('longer', upper), 'LONGER');
  assert.deepEqual(calls, ['a', 'longer', 'longer'], 'a key over 5 chars is computed every time');
  assert.throws(() => memo.get('bad', upper));
  assert.throws(() => memo.get('bad', upper));
  memo.get('b', upper);
  memo.get('c', upper); // full at 2 (a, b): emptied, then c kept
  memo.get('a', upper);
  assert.deepEqual(calls, ['a', 'longer', 'longer', 'bad', 'bad', 'b', 'c', 'a']);
});
