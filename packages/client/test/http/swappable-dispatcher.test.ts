import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Agent } from 'undici';
import { SwappableDispatcher } from '../../src/index.js';
import { closeServer, listen, waitFor } from '../helpers.js';

/** A server that holds every request until `release()`, and tells which connection each came on. */
async function holdingServer(t: { after(fn: () => unknown): void }) {
  const held: http.ServerResponse[] = [];
  const ports: number[] = [];
  const server = http.createServer((req, res) => {
    ports.push(req.socket.remotePort ?? 0);
    if (req.url === '/hold') held.push(res);
    else res.end('now');
  });
  const port = await listen(server);
  t.after(() => closeServer(server));
  return { origin: `http://127.0.0.1:${port}`, held, ports, release: () => held.splice(0).forEach((r) => r.end('late')) };
}

/** A SwappableDispatcher over a fresh Agent, with one request on `/hold` already held by the server. */
async function heldRequest<T>(
  t: { after(fn: () => unknown): void },
  retireGraceMs: number,
  send: (d: SwappableDispatcher, origin: string) => Promise<T>,
) {
  const srv = await holdingServer(t);
  const oldAgent = new Agent();
  const d = new SwappableDispatcher(oldAgent, retireGraceMs);
  t.after(() => d.destroy());
  const running = send(d, srv.origin);
  await waitFor(() => srv.held.length === 1, 5000, 'the held request');
  return { srv, oldAgent, d, running };
}

test('SwappableDispatcher: after swap new requests use the new dispatcher; a running one finishes on the old, which is then destroyed', { timeout: 10_000 }, async (t) => {
  const { srv, oldAgent, d, running } = await heldRequest(t, 5000, (d, origin) => d.request({ origin, path: '/hold', method: 'GET' }));
  d.swap(new Agent());
  assert.equal(d.retiring, 1);
  const fresh = await d.request({ origin: srv.origin, path: '/now', method: 'GET' });
  assert.equal(await fresh.body.text(), 'now');
  assert.notEqual(srv.ports[1], srv.ports[0], 'the new request must not reuse the old dispatcher\'s connection');
  assert.equal(oldAgent.destroyed, false, 'the old dispatcher waits for its running request');

  srv.release();
  const res = await running;
  assert.equal(await res.body.text(), 'late');
  await waitFor(() => d.retiring === 0, 2000, 'the old dispatcher to be retired without waiting out the grace time');
  assert.equal(oldAgent.destroyed, true);
});

test('SwappableDispatcher: a request still running after the grace time is cut and the old dispatcher destroyed', { timeout: 10_000 }, async (t) => {
  const { oldAgent, d, running } = await heldRequest(t, 150, (d, origin) => d.request({ origin, path: '/hold', method: 'GET' }));
  d.swap(new Agent());
  await assert.rejects(running, { code: 'UND_ERR_DESTROYED' });
  await waitFor(() => d.retiring === 0, 2000, 'the old dispatcher to be retired');
  assert.equal(oldAgent.destroyed, true);
});

test('SwappableDispatcher: a handler of undici\'s current API (onRequestStart ...) gets every callback, and its end retires the old dispatcher', { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const chunks: Buffer[] = [];
  const { srv, oldAgent, d, running: done } = await heldRequest(t, 5000, (d, origin) => new Promise<number>((resolve, reject) => {
    let status = 0;
    d.dispatch(
      { origin, path: '/hold', method: 'GET' },
      {
        onRequestStart() {
          seen.push('start');
        },
        onResponseStart(_ctl, statusCode) {
          seen.push('head');
          status = statusCode;
        },
        onResponseData(_ctl, chunk) {
          chunks.push(chunk);
        },
        onResponseEnd() {
          seen.push('end');
          resolve(status);
        },
        onResponseError(_ctl, err) {
          reject(err);
        },
      },
    );
  }));
  d.swap(new Agent());
  assert.equal(oldAgent.destroyed, false, 'the old dispatcher waits for the running request');
  srv.release();
  assert.equal(await done, 200);
  assert.deepEqual(seen, ['start', 'head', 'end']);
  assert.equal(Buffer.concat(chunks).toString(), 'late');
  await waitFor(() => d.retiring === 0, 2000, 'the old dispatcher to be retired once the request ended');
  assert.equal(oldAgent.destroyed, true);
});
