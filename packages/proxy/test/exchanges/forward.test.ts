import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalHeaderName } from '../../src/exchanges/forward.js';

test("header names are canonicalized as Go's CanonicalMIMEHeaderKey, the same on every call and past the cache's bound", () => {
  const cases: Array<[string, string]> = [
    ['accept-encoding', 'Accept-Encoding'],
    ['x-prometheus-scrape-timeout-seconds', 'X-Prometheus-Scrape-Timeout-Seconds'],
    ['x-b3-traceid', 'X-B3-Traceid'],
    ['content-md5', 'Content-Md5'],
    // Not a valid token for Go's rule: kept as it is.
    ['x_under', 'x_under'],
  ];
  for (let round = 0; round < 3; round++) {
    for (const [name, canon] of cases) assert.equal(canonicalHeaderName(name), canon);
    // More distinct names than the cache holds: answers stay right while it is refilled.
    for (let i = 0; i < 300; i++) assert.equal(canonicalHeaderName(`x-name-${i}`), `X-Name-${i}`);
  }
});
