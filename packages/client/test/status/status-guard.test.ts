import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { silentLogger } from '@pushprox/shared';
import { startMetricsServer } from '../../src/metrics.js';

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
  });
}

test('a status handler that throws answers 503 and the metrics listener keeps serving (no uncaught exception)', async (t) => {
  const registry = new Registry();
  let calls = 0;
  const server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, registry, silentLogger, (req) => {
    calls++;
    if (req.url === '/api/v1/status') throw new ReferenceError('Cannot access the targets before initialization');
    return false;
  });
  t.after(() => server!.close());
  const port = (server!.address as AddressInfo).port;
  const r = await get(port, '/api/v1/status');
  assert.equal(r.status, 503);
  assert.match(r.body, /not available: Cannot access the targets before initialization/);
  const m = await get(port, '/metrics');
  assert.equal(m.status, 200);
  assert.equal(calls, 2);
});
