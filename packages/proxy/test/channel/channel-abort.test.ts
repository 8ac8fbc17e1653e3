/**
 * A channel exchange that ends without its response: the client's ABORT (the
 * exporter's body broke) and a push over --push.max-body-size. Raw channel
 * frames on loopback against a real proxy; the scraper is a raw HTTP request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { encodeFrame, FRAME, frameHeader } from '@pushprox/shared';
import { exchange, until, withProxy } from '../helpers.js';
import { openChannel, scrapeOn, type RawChannel } from './frame-peer.js';

const inner = (id: string, length: number) => `HTTP/1.1 200 OK\r\nContent-Length: ${length}\r\nId: ${id}\r\n\r\n`;

async function nextScrapeSucceeds(port: number, ch: RawChannel): Promise<void> {
  const { id, answer } = await scrapeOn(port, ch);
  const body = 'up 1\n';
  ch.socket.write(Buffer.concat([encodeFrame(FRAME.DATA, Buffer.from(inner(id, body.length) + body)), encodeFrame(FRAME.END)]));
  const got = await answer;
  assert.equal(got.head.status, 200);
  assert.equal(got.body.toString(), body);
}

const REASON = "the exporter's body ended after 400 of 100000 bytes: other side closed";

test('ABORT before anything was relayed fails the scrape at once with 502 and the reason, and the channel carries the next scrape', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const ch = await openChannel(port, 'host-a');
    const { id, answer, sentAt } = await scrapeOn(port, ch);
    // The head and 400 bytes of a 100000-byte body, then ABORT (held by the proxy: under 64 KiB).
    ch.socket.write(encodeFrame(FRAME.DATA, Buffer.concat([Buffer.from(inner(id, 100_000)), Buffer.alloc(400, 'x')])));
    ch.socket.write(encodeFrame(FRAME.ABORT, Buffer.from(REASON)));
    const got = await answer;
    const ms = performance.now() - sentAt;
    assert.equal(got.head.status, 502);
    assert.ok(got.body.toString().includes(REASON), got.body.toString());
    assert.match(got.head.reason, /ended after 400 of 100000 bytes/);
    assert.ok(ms < 5000, `the scrape took ${ms} ms (timeout 30 s)`);
    await until(() => proxy.coordinator.stats().waitingPolls === 1, 2000, 'the channel to wait again');
    assert.ok(!ch.frames.some((f) => f.type === FRAME.ERROR), 'no ERROR: the channel stays');
    await nextScrapeSucceeds(port, ch);
    const metrics = (await exchange(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')).body.toString();
    assert.match(metrics, /^pushprox_proxy_channels 1$/m);
    ch.socket.destroy();
  });
});

test('ABORT of a large push already streaming cuts the relayed body, and the channel carries the next scrape', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const ch = await openChannel(port, 'host-a');
    const { id, answer } = await scrapeOn(port, ch);
    const size = 1024 * 1024;
    ch.socket.write(encodeFrame(FRAME.DATA, Buffer.from(inner(id, size))));
    const part = Buffer.alloc(200 * 1024, 'm');
    ch.socket.write(Buffer.concat([frameHeader(FRAME.DATA, part.length), part]));
    ch.socket.write(encodeFrame(FRAME.ABORT, Buffer.from(REASON)));
    // The head went out with 200 OK: the scraper sees its body cut, never a complete wrong answer.
    await assert.rejects(answer);
    await until(() => proxy.coordinator.stats().waitingPolls === 1, 5000, 'the channel to wait again');
    assert.ok(!ch.frames.some((f) => f.type === FRAME.ERROR), 'no ERROR: the channel stays');
    await nextScrapeSucceeds(port, ch);
    ch.socket.destroy();
  });
});

test('ABORT outside an exchange breaks the protocol: ERROR and the channel closes', async () => {
  await withProxy({}, async (proxy) => {
    const ch = await openChannel(proxy.address.port, 'host-a');
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    ch.socket.write(encodeFrame(FRAME.ABORT, Buffer.from('nothing to abort')));
    await ch.closed;
    const error = ch.frames.find((f) => f.type === FRAME.ERROR);
    assert.match(error?.payload.toString() ?? '', /expected ABORT only in answer to a REQUEST/);
  });
});

test('a long ABORT reason is cut, and one that is not UTF-8 still fails the scrape without stopping anything', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const ch = await openChannel(port, 'host-a');
    const first = await scrapeOn(port, ch);
    ch.socket.write(encodeFrame(FRAME.ABORT, Buffer.alloc(100_000, 'r')));
    const a = await first.answer;
    assert.equal(a.head.status, 502);
    assert.ok(a.body.length < 2048, `the answer carried ${a.body.length} bytes`);
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    const second = await scrapeOn(port, ch);
    ch.socket.write(encodeFrame(FRAME.ABORT, Buffer.from([0xff, 0xfe, 0x0d, 0x0a, 0x41])));
    const b = await second.answer;
    assert.equal(b.head.status, 502);
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    await nextScrapeSucceeds(port, ch);
    ch.socket.destroy();
  });
});

test('a channel push over --push.max-body-size fails its scrape at once with a reason naming the limit and the size', async () => {
  await withProxy({ pushMaxBodyBytes: 64 * 1024 }, async (proxy) => {
    const port = proxy.address.port;
    const ch = await openChannel(port, 'host-a');
    const { id, answer, sentAt } = await scrapeOn(port, ch);
    const size = 200 * 1024;
    ch.socket.write(encodeFrame(FRAME.DATA, Buffer.from(inner(id, size))));
    const part = Buffer.alloc(size, 'm');
    ch.socket.write(Buffer.concat([frameHeader(FRAME.DATA, part.length), part]));
    const got = await answer;
    const ms = performance.now() - sentAt;
    assert.equal(got.head.status, 502);
    assert.match(got.body.toString(), /pushed response exceeds --push\.max-body-size \(65536 bytes\): \d+ bytes arrived/);
    assert.doesNotMatch(got.body.toString(), /channel closed before it answered/);
    assert.ok(ms < 5000, `the scrape took ${ms} ms (timeout 30 s)`);
    await ch.closed;
    assert.match(ch.frames.find((f) => f.type === FRAME.ERROR)?.payload.toString() ?? '', /--push\.max-body-size/);
  });
});

test('a streamed channel push whose declared length is over --push.max-body-size fails its scrape with a reason naming the limit', async () => {
  await withProxy({ pushMaxBodyBytes: 100 * 1024 }, async (proxy) => {
    const port = proxy.address.port;
    const ch = await openChannel(port, 'host-a');
    const { id, answer } = await scrapeOn(port, ch);
    // Past 64 KiB the push streams, and the relay reads the declared length first.
    ch.socket.write(encodeFrame(FRAME.DATA, Buffer.from(inner(id, 200 * 1024))));
    const part = Buffer.alloc(80 * 1024, 'm');
    ch.socket.write(Buffer.concat([frameHeader(FRAME.DATA, part.length), part]));
    const got = await answer;
    assert.equal(got.head.status, 502);
    assert.match(got.body.toString(), /pushed response exceeds --push\.max-body-size \(102400 bytes\)/);
    await ch.closed;
  });
});
