import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_ABORT_REASON_BYTES } from '@pushprox/shared';
import { abortReason } from '../../src/transport/channel.js';

test('an ABORT reason is sent whole when short, and cut to the limit at a character boundary when long', () => {
  const short = "the exporter's body ended after 400 of 100000 bytes: other side closed";
  assert.equal(abortReason(short).toString('utf8'), short);
  // 3-byte characters never line up with the limit: a cut in the middle of one backs off to its start.
  const long = '€'.repeat(MAX_ABORT_REASON_BYTES);
  const cut = abortReason(long);
  assert.ok(cut.length <= MAX_ABORT_REASON_BYTES && cut.length > MAX_ABORT_REASON_BYTES - 3, `${cut.length} bytes`);
  assert.equal(cut.length % 3, 0);
  assert.equal(cut.toString('utf8'), '€'.repeat(cut.length / 3));
});
