import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientMetaError, decodeClientMeta, encodeClientMeta, HEADER_CLIENT_META } from '../src/protocol/client-meta.js';

test('client metadata round-trips labels with any Unicode value, modules and version', () => {
  const meta = {
    labels: { site: 'Zürich "dc-1"\n<script>', env: '' },
    modules: [
      { name: 'node', style: 'expexp' as const },
      { name: 'node', style: 'oitc' as const },
    ],
    version: '0.1.0',
  };
  const value = encodeClientMeta(meta);
  assert.match(value, /^[A-Za-z0-9_-]+$/, 'the header value stays within RFC 9110 field-value characters');
  assert.deepEqual(decodeClientMeta(value), meta);
});

test('client metadata refuses what would break discovery, naming the fault', () => {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const cases: Array<[string, RegExp]> = [
    [enc({ v: 1, labels: { __address__: 'x' } }), /reserves/],
    [enc({ v: 1, labels: { 'a-b': 'x' } }), /not a Prometheus label name/],
    [enc({ v: 1, labels: { a: 3 } }), /must be a string/],
    [enc({ v: 1, modules: [{ name: '../etc', style: 'expexp' }] }), /module name/],
    [enc({ v: 1, modules: [{ name: 'a', style: 'x' }] }), /style/],
    [enc({ v: 1, modules: [{ name: 'a', style: 'oitc' }, { name: 'a', style: 'oitc' }] }), /twice/],
    [enc({ v: 2 }), /version 2 is not supported/],
    [enc([1]), /JSON object/],
    ['not base64!', /base64url/],
    ['A'.repeat(17 * 1024), /at most 16384/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => decodeClientMeta(value), (e: unknown) => e instanceof ClientMetaError && message.test(e.message), value.slice(0, 40));
  }
  assert.equal(HEADER_CLIENT_META, 'X-Pushprox-Client-Meta');
});
