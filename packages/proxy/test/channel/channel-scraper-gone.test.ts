import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { encodeFrame, FRAME, HEADER_ID, HEADER_SCRAPE_TIMEOUT } from '@pushprox/shared';
import { exchange, sleep, withProxy } from '../helpers.js';
import { openChannel, pushFrames, pushedResponse, scrape } from '../raw-peers.js';

/**
 * A scrape whose scraper went away (its timeout, or it hung up mid-body) is
 * no fault of the client's: the push is dropped and the channel carries the
 * next scrape (it used to be closed with ERROR, and its client had to reconnect).
 */

type Mode = 'answer' | 'late' | 'large';

async function channelCount(port: number): Promise<number> {
  const m = (await exchange(port, 'GET /metrics HTTP/1.1\r\nHost: p\r\n\r\n')).body.toString();
  return Number(/^pushprox_proxy_channels (\d+)$/m.exec(m)?.[1]);
}

test('regression: a push that arrives after its scrape timed out is dropped, and the channel carries the next scrape', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    let mode: Mode = 'late';
    const ch = openChannel(port, 'host-a', (id, socket) => {
      if (mode === 'answer') return void socket.write(pushFrames(pushedResponse(id, 'up 1\n')));
      // Answer after the scrape's 0.3 s deadline.
      setTimeout(() => socket.write(pushFrames(pushedResponse(id, 'late 1\n'))), 600);
    });
    await ch.upgraded;
    const timedOut = await scrape(port, 'host-a', 0.3);
    assert.match(timedOut.text, /^HTTP\/1\.1 500 /);
    await sleep(500);
    mode = 'answer';
    const next = await scrape(port, 'host-a', 5);
    assert.equal(next.status, 200, next.text);
    assert.match(next.text, /up 1\n$/);
    assert.deepEqual(ch.errors, []);
    assert.equal(ch.socket.destroyed, false);
    assert.equal(await channelCount(port), 1);
    ch.socket.destroy();
  });
});

test('regression: a scraper hanging up in the middle of a large streamed push leaves the channel open for the next scrape', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    let mode: Mode = 'large';
    const big = Buffer.alloc(4 * 1024 * 1024, 'x');
    const ch = openChannel(port, 'host-a', (id, socket) => {
      if (mode === 'answer') return void socket.write(pushFrames(pushedResponse(id, 'up 1\n')));
      const head = Buffer.from(`HTTP/1.1 200 OK\r\n${HEADER_ID}: ${id}\r\nContent-Length: ${big.length}\r\n\r\n`);
      socket.write(encodeFrame(FRAME.DATA, head));
      for (let off = 0; off < big.length; off += 256 * 1024) socket.write(encodeFrame(FRAME.DATA, big.subarray(off, off + 256 * 1024)));
      socket.write(encodeFrame(FRAME.END));
    });
    await ch.upgraded;
    // Reads 100 KB of the relayed body, then resets.
    await new Promise<void>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('error', () => undefined);
      let got = 0;
      s.write(`GET http://host-a:9100/metrics HTTP/1.1\r\nHost: host-a:9100\r\n${HEADER_SCRAPE_TIMEOUT}: 10\r\n\r\n`);
      s.on('data', (c: Buffer) => {
        got += c.length;
        if (got > 100_000) s.resetAndDestroy();
      });
      s.on('close', () => resolve());
    });
    await sleep(300);
    mode = 'answer';
    const next = await scrape(port, 'host-a', 5);
    assert.equal(next.status, 200, next.text);
    assert.deepEqual(ch.errors, []);
    assert.equal(ch.socket.destroyed, false);
    assert.equal(await channelCount(port), 1);
    ch.socket.destroy();
  });
});
