import assert from 'node:assert/strict';
import test from 'node:test';
import { parseSoakOptions } from './options.js';
import { secs, statusOf } from './raw.js';
import { Samples, Tally } from './tally.js';

// Run by hand (`node --test e2e/dist/soak/soak.test.js`); not part of npm test, like the soak itself.

test('soak options: defaults are 5 minutes and text; --minutes in both spellings and --json are read', () => {
  assert.deepEqual(parseSoakOptions([]), { minutes: 5, json: false });
  assert.deepEqual(parseSoakOptions(['--minutes', '3', '--json']), { minutes: 3, json: true });
  assert.deepEqual(parseSoakOptions(['--minutes=0.5']), { minutes: 0.5, json: false });
  assert.ok(Object.isFrozen(parseSoakOptions([])));
});

test('soak options: a bad or unbounded duration and unknown flags are refused with what was expected', () => {
  assert.throws(() => parseSoakOptions(['--minutes', 'x']), /expected a number of minutes in \(0, 1440\], got "x"/);
  assert.throws(() => parseSoakOptions(['--minutes=0']), /expected a number of minutes/);
  assert.throws(() => parseSoakOptions(['--minutes=100000']), /expected a number of minutes/);
  assert.throws(() => parseSoakOptions(['--minutes']), /got undefined/);
  assert.throws(() => parseSoakOptions(['--hours=1']), /expected --minutes N or --json, got "--hours=1"/);
});

test('tally of failure reasons stays bounded in distinct keys and counts every event', () => {
  const t = new Tally();
  for (let i = 0; i < 1000; i++) t.add(`reason ${i}`);
  t.add('reason 0');
  const json = t.toJSON();
  assert.equal(t.total, 1001);
  assert.ok(Object.keys(json).length <= 61, `${Object.keys(json).length} keys`);
  assert.equal(json['reason 0'], 2);
  assert.equal(json['(other reasons)'], 940);
});

test('latency reservoir keeps at most 100,000 samples however many are added', () => {
  const s = new Samples();
  for (let i = 0; i < 150_000; i++) s.add(i);
  assert.equal(s.values().length, 100_000);
  assert.ok(s.values().some((x) => x >= 100_000), 'later samples replace earlier ones');
});

test('outcome keys: a status line becomes its code, times become few buckets', () => {
  assert.equal(statusOf('HTTP/1.1 408 Request Timeout'), '408');
  assert.equal(statusOf(''), 'no reply');
  assert.equal(statusOf('\x15\x03\x03'), 'non-HTTP reply');
  assert.equal(secs(9_999), '9s');
  assert.equal(secs(12_500), '12s');
  assert.equal(secs(31_000), '30s');
});
