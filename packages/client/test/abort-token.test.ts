import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { FEATURE_MULTI_POLL, FEATURE_PUSH_POLL, HEADER_PROXY_FEATURES, STATUS_POLL_IDLE } from '@pushprox/shared';
import { AbortToken, readPollReply } from '../src/index.js';

async function listen(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

test('an AbortToken aborts an undici request waiting for its head, with the token reason', async () => {
  let arrived!: () => void;
  const requested = new Promise<void>((resolve) => (arrived = resolve));
  // Never answers: only the token can end the request.
  const server = await listen(() => arrived());
  const agent = new Agent();
  try {
    const token = new AbortToken();
    const pending = agent.request({ origin: server.url, path: '/', method: 'GET', signal: token, headersTimeout: 0 });
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
  const server = await listen((_req, res) => res.end('late'));
  const agent = new Agent();
  try {
    const token = new AbortToken();
    const reason = new Error('deadline passed');
    token.abort(reason);
    await assert.rejects(agent.request({ origin: server.url, path: '/', method: 'GET', signal: token }), (err) => err === reason);
  } finally {
    await agent.close();
    await server.close();
  }
});

test('poll replies: each reply is read for its own features, although the last value is remembered', async () => {
  const values = [
    FEATURE_MULTI_POLL,
    FEATURE_MULTI_POLL,
    `${FEATURE_MULTI_POLL}, ${FEATURE_PUSH_POLL}`,
    `${FEATURE_MULTI_POLL}, ${FEATURE_PUSH_POLL}`,
    FEATURE_PUSH_POLL,
    undefined,
    ` ${FEATURE_MULTI_POLL.toUpperCase()} `,
  ];
  let i = 0;
  const server = await listen((_req, res) => {
    const value = values[i++];
    res.writeHead(STATUS_POLL_IDLE, value === undefined ? {} : { [HEADER_PROXY_FEATURES]: value });
    res.end();
  });
  const agent = new Agent();
  try {
    const seen = [];
    for (let n = 0; n < values.length; n++) {
      const res = await agent.request({ origin: server.url, path: '/poll', method: 'POST', body: 'host-a' });
      const reply = await readPollReply(res, 1024);
      seen.push([reply.multiPoll, reply.pushPoll]);
    }
    assert.deepEqual(seen, [
      [true, false],
      [true, false],
      [true, true],
      [true, true],
      [false, true],
      [false, false],
      [true, false],
    ]);
  } finally {
    await agent.close();
    await server.close();
  }
});
