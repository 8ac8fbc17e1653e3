import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commaList } from '../src/flags/cli.js';

test('commaList: a URL flag given several times, comma-separated or both, gives every value once in order', () => {
  assert.deepEqual(commaList(undefined), []);
  assert.deepEqual(commaList('http://a/'), ['http://a/']);
  assert.deepEqual(commaList(['http://a/', 'http://b/, http://c/']), ['http://a/', 'http://b/', 'http://c/']);
  assert.deepEqual(commaList(' , '), [], 'empty values are dropped');
});
