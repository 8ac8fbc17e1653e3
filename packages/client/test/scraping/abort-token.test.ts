import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'undici';
import { AbortToken } from '../../src/index.js';
import { startExporter } from '../helpers.js';

test('an AbortToken aborts an undici request waiting for its head, with the token reason', async () => {
  let arrived!: () => void;
  const requested = new Promise<void>((resolve) => (arrived = resolve));
  // Never answers: only the token can end the request.
  const server = await startExporter(() => arrived());
  const agent = new Agent();
  try {
    const token = new AbortToken();
    const pending = agent.request({ origin: `http://127.0.0.1:${server.port}`, path: '/', method: 'GET', signal: token, headersTimeout: 0 });
    await requested;
    const reason = new Error('scrape timeout');
    token.abort(reason);
    await assert.rejects(pending, (err) => err === reason);
  } finally {
    await agent.close();
    await server.close();
  }
});

test('an AbortToken aborts once: later aborts keep the first reason and emit nothing', () => {
  const token = new AbortToken();
  const seen: Array<Error | undefined> = [];
  token.on('abort', () => seen.push(token.reason));
  assert.equal(token.aborted, false);
  assert.equal(token.reason, undefined);
  const first = new Error('first');
  token.abort(first);
  token.abort(new Error('second'));
  assert.equal(token.aborted, true);
  assert.equal(token.reason, first);
  assert.deepEqual(seen, [first]);
});

test('an already aborted AbortToken makes undici refuse the request at once', async () => {
  const server = await startExporter((_req, res) => res.end('late'));
  const agent = new Agent();
  try {
    const token = new AbortToken();
    const reason = new Error('deadline passed');
    token.abort(reason);
    await assert.rejects(agent.request({ origin: `http://127.0.0.1:${server.port}`, path: '/', method: 'GET', signal: token }), (err) => err === reason);
    assert.equal(server.requests.length, 0, 'no request reached the server');
  } finally {
    await agent.close();
    await server.close();
  }
});
