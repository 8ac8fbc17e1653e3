/**
 * SECURITY.md threat 11, driven through a running proxy: every pushed DATA byte counts
 * against --push.max-body-size (not only the response's declared body), and a control
 * frame over 1 MiB closes the channel with an ERROR frame naming the rule. Raw channel
 * frames on loopback; the scraper is a raw HTTP request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame, FRAME, frameHeader, MAX_CONTROL_FRAME_BYTES } from '@pushprox/shared';
import { until, withProxy } from '../helpers.js';
import { openChannel, scrapeOn, type RawChannel } from './frame-peer.js';

const errorText = (ch: RawChannel): string => ch.frames.find((f) => f.type === FRAME.ERROR)?.payload.toString() ?? '';

test('channel DATA past the pushed response\'s own end counts against --push.max-body-size: the scrape fails and the channel closes', async () => {
  const limit = 16 * 1024;
  await withProxy({ pushMaxBodyBytes: limit }, async (proxy) => {
    const port = proxy.address.port;
    const ch = await openChannel(port, 'host-a');
    const { id, answer } = await scrapeOn(port, ch);
    // A complete, small response, then bytes that belong to nothing: without the count they
    // would be read and dropped for as long as the client sends them.
    ch.socket.write(encodeFrame(FRAME.DATA, Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\nId: ${id}\r\n\r\nup 1\n`)));
    const junk = Buffer.alloc(8 * 1024, 'j');
    for (let i = 0; i < 12 && !ch.isClosed(); i++) ch.socket.write(Buffer.concat([frameHeader(FRAME.DATA, junk.length), junk]));
    const got = await answer;
    assert.equal(got.head.status, 502, `expected the scrape to fail, got ${got.head.status}: ${got.body.toString()}`);
    assert.match(got.body.toString(), /pushed response exceeds --push\.max-body-size \(16384 bytes\)/);
    await ch.closed;
    assert.match(errorText(ch), /--push\.max-body-size/);
    await until(() => proxy.coordinator.stats().waitingPolls === 0, 2000, 'the closed channel to be forgotten');
  });
});

test('a channel control frame over 1 MiB closes the channel with an ERROR frame naming the limit, and fails the scrape it held', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const ch = await openChannel(port, 'host-a');
    const { answer } = await scrapeOn(port, ch);
    // The header alone: the proxy must refuse on the declared length, before any payload.
    ch.socket.write(frameHeader(FRAME.ABORT, MAX_CONTROL_FRAME_BYTES + 1));
    await until(() => errorText(ch) !== '', 5000, 'an ERROR frame');
    assert.match(errorText(ch), new RegExp(`ABORT frame of ${MAX_CONTROL_FRAME_BYTES + 1} bytes exceeds the limit of ${MAX_CONTROL_FRAME_BYTES} bytes`));
    await ch.closed;
    // At once, not at the scrape's 30 s deadline: SCRAPE_CANCELLED (500) with the cause.
    const got = await answer;
    assert.equal(got.head.status, 500);
    assert.match(got.body.toString(), /channel closed before it answered/);
    // The proxy goes on: a new channel serves a scrape.
    const again = await openChannel(port, 'host-a');
    const next = await scrapeOn(port, again);
    again.socket.write(
      Buffer.concat([encodeFrame(FRAME.DATA, Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\nId: ${next.id}\r\n\r\nup 2\n`)), encodeFrame(FRAME.END)]),
    );
    const ok = await next.answer;
    assert.equal(ok.head.status, 200);
    assert.equal(ok.body.toString(), 'up 2\n');
    again.socket.destroy();
  });
});

test('a channel control frame of exactly 1 MiB is within the limit: a PING that size is answered with PONG', async () => {
  await withProxy({}, async (proxy) => {
    const ch = await openChannel(proxy.address.port, 'host-a');
    ch.socket.write(encodeFrame(FRAME.PING, Buffer.alloc(MAX_CONTROL_FRAME_BYTES, 'p')));
    await until(() => ch.frames.some((f) => f.type === FRAME.PONG), 5000, 'PONG');
    assert.equal(errorText(ch), '');
    assert.equal(ch.isClosed(), false);
    ch.socket.destroy();
  });
});
