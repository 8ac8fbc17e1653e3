import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES } from '@pushprox/shared';
import type { RunningProxy } from '../../src/listeners/server.js';
import { WHOLE_PUSH_BYTES } from '../../src/exchanges/push-relay.js';
import { closing, connect, sleep, withProxy } from '../helpers.js';
import { drain, idle, judge, parkScrape, pushRequest } from './hostile-helpers.js';

/**
 * Request-smuggling shapes inside pushed responses, one test each. Every one
 * is refused with 400; the scrape it was meant for is answered with an
 * error, never with a response whose end a peer could place differently.
 * CL+TE is covered in failure-modes.test.ts.
 *
 * Framing errors found in the head refuse the push before it claims the
 * scrape, which then fails at its deadline (500). So do errors in the body of
 * a small push, read whole before any of it is relayed (WHOLE_PUSH_BYTES).
 * In a larger push, which streams, they come after the relay began: the
 * scrape's connection is cut before its response is complete.
 */

const DEADLINE = '0.5';

/** Pushes `inner` (built for the parked scrape's Id); `split` sends the bytes from that marker on 100 ms later. */
async function pushFor(proxy: RunningProxy, inner: (id: string) => string, split?: string) {
  const parked = await parkScrape(proxy, 'host-a', DEADLINE);
  const bytes = closing(pushRequest(inner(parked.id)));
  const s = await connect(proxy.address.port);
  const cut = split === undefined ? -1 : bytes.indexOf(split);
  s.write(cut < 0 ? bytes : bytes.subarray(0, cut));
  const pushSide = drain(s, 5000);
  if (cut >= 0) {
    await sleep(100);
    s.write(bytes.subarray(cut));
  }
  const pushed = judge((await pushSide).bytes);
  assert.ok(pushed.complete, 'the push is answered');
  const scraped = judge((await parked.answer).bytes);
  await idle(proxy);
  return { pushed, scraped };
}

async function refusedAtHead(inner: (id: string) => string, why: RegExp): Promise<void> {
  await withProxy({}, async (proxy) => {
    const { pushed, scraped } = await pushFor(proxy, inner);
    assert.ok(pushed.complete);
    assert.equal(pushed.head.status, 400);
    assert.match(pushed.body.toString(), why);
    assert.ok(scraped.complete, 'the scrape gets a complete error response');
    assert.equal(scraped.head.status, 500);
    assert.match(scraped.body.toString(), /context deadline exceeded/);
  });
}

/** Each body-error case is pushed both ways: whole (small), and streamed (past WHOLE_PUSH_BYTES). */
const BODIES = { whole: 'ok\n', streamed: `${'b'.repeat(WHOLE_PUSH_BYTES)}ok\n` } as const;

async function refusedInBody(inner: (id: string, body: string) => string, why: RegExp, split?: string): Promise<void> {
  for (const [shape, body] of Object.entries(BODIES)) {
    await withProxy({}, async (proxy) => {
      const { pushed, scraped } = await pushFor(proxy, (id) => inner(id, body), split);
      assert.ok(pushed.complete);
      assert.equal(pushed.head.status, 400, shape);
      assert.match(pushed.body.toString(), why);
      if (shape === 'whole') {
        assert.ok(scraped.complete, 'checked whole before any of it was relayed: the scrape gets a complete error response');
        assert.equal(scraped.head.status, 500);
        assert.match(scraped.body.toString(), /context deadline exceeded/);
      } else {
        assert.deepEqual(scraped.complete ? `complete ${scraped.head.status}` : scraped.code, ERROR_CODES.WIRE_TRUNCATED, shape);
      }
    });
  }
}

test('smuggling: two different Content-Lengths in a pushed response', async () => {
  await refusedAtHead(
    (id) => `HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 30\r\nId: ${id}\r\n\r\nok\n`,
    /conflicting Content-Length values "3" and "30"/,
  );
});

test('smuggling: Transfer-Encoding: chunked, identity in a pushed response', async () => {
  await refusedAtHead(
    (id) => `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\nId: ${id}\r\n\r\n3\r\nok\n\r\n0\r\n\r\n`,
    /unsupported Transfer-Encoding "chunked, identity"/,
  );
});

test('smuggling: an obs-fold continuation line in a pushed response', async () => {
  await refusedAtHead(
    (id) => `HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Folded: a\r\n Transfer-Encoding: chunked\r\nId: ${id}\r\n\r\nok\n`,
    /obsolete line folding/,
  );
});

test('smuggling: bare LF line endings in a pushed response', async () => {
  await refusedAtHead((id) => `HTTP/1.1 200 OK\nContent-Length: 3\nId: ${id}\n\nok\n`, /bare LF/);
  await refusedAtHead((id) => `HTTP/1.1 200 OK\r\nContent-Length: 3\nId: ${id}\r\n\r\nok\n`, /bare LF/);
});

test('smuggling: negative and hex Content-Length in a pushed response', async () => {
  await refusedAtHead((id) => `HTTP/1.1 200 OK\r\nContent-Length: -1\r\nId: ${id}\r\n\r\nok\n`, /invalid Content-Length "-1"/);
  await refusedAtHead((id) => `HTTP/1.1 200 OK\r\nContent-Length: 0x3\r\nId: ${id}\r\n\r\nok\n`, /invalid Content-Length "0x3"/);
});

test('an interim (1xx) status in a pushed response is refused, so Prometheus is never left waiting for a final one', async () => {
  await refusedAtHead((id) => `HTTP/1.1 100 Continue\r\nId: ${id}\r\n\r\n`, /final status \(200 to 999\), got 100/);
  await refusedAtHead(
    (id) => `HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\nId: ${id}\r\n\r\n`,
    /final status \(200 to 999\), got 101/,
  );
});

const SECOND = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil\n';
const chunk = (body: string): string => `${body.length.toString(16)}\r\n${body}\r\n`;
const withLength = (id: string, body: string): string => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nId: ${id}\r\n\r\n${body}`;

test('smuggling: a chunk size that overflows in a pushed body is refused and never completes the scrape', async () => {
  await refusedInBody(
    (id, body) => `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nId: ${id}\r\n\r\n${chunk(body)}10000000000000001\r\nx\r\n0\r\n\r\n`,
    /chunk size has more than 15 hex digits/,
  );
});

test('smuggling: a second response appended after the pushed body is refused and never completes the scrape', async () => {
  await refusedInBody((id, body) => `${withLength(id, body)}${SECOND}`, /bytes follow the end of the message/);
});

test('regression: a second response arriving after a complete Content-Length body does not let the scrape complete', async () => {
  // The first response's last byte is held until the push ends, so Prometheus
  // never gets a complete 200 for a push that is refused.
  await refusedInBody((id, body) => `${withLength(id, body)}${SECOND}`, /bytes follow the end of the message/, SECOND);
  await refusedInBody(
    (id, body) => `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nId: ${id}\r\n\r\n${chunk(body)}0\r\n\r\n${SECOND}`,
    /bytes follow the end of the message/,
    SECOND,
  );
});

