import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { encodeFrame, FRAME, HEADER_ID } from '@pushprox/shared';
import { spawnProxy, type ProxyProcess } from '../proxy-process.js';
import { openChannel, pushFrames, pushedResponse, scrape } from '../raw-peers.js';

/**
 * Requests that once stopped the whole proxy process, each replayed against
 * a real process: after each, it must still run, serve a normal scrape, and
 * hold no descriptor it did not hold before.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A channel for `fqdn` that answers every scrape with `body`. */
async function healthyChannel(p: ProxyProcess, fqdn: string): Promise<net.Socket> {
  const ch = openChannel(p.clientPort, fqdn, (id, socket) => socket.write(pushFrames(pushedResponse(id, `up{fqdn="${fqdn}"} 1\n`))));
  await ch.upgraded;
  return ch.socket;
}

async function assertServes(p: ProxyProcess, what: string): Promise<void> {
  assert.equal(p.exited(), undefined, `the proxy exited after ${what}:\n${p.log().slice(-2000)}`);
  const ok = await healthyChannel(p, 'healthy.example');
  try {
    const answer = await scrape(p.port, 'healthy.example');
    assert.equal(answer.status, 200, `a normal scrape after ${what} got: ${answer.text.slice(0, 200)}`);
    assert.match(answer.text, /up\{fqdn="healthy.example"\} 1/);
  } finally {
    ok.destroy();
  }
}

async function assertFdsSettle(p: ProxyProcess, before: number, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (p.fds() > before && Date.now() < deadline) await sleep(50);
  assert.ok(p.fds() <= before, `the proxy holds ${p.fds()} descriptors after ${what}, ${before} before`);
}

function connectThenReset(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    s.on('close', () => resolve());
    s.on('connect', () => {
      s.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
      s.resetAndDestroy();
    });
  });
}

for (const split of [false, true]) {
  const shape = split ? 'split listeners' : 'one listener';
  test(`regression (${shape}): a CONNECT whose sender resets the connection does not stop the proxy`, async () => {
    const p = await spawnProxy([], { clientListener: split });
    try {
      const before = p.fds();
      for (let i = 0; i < 40; i++) {
        await connectThenReset(p.port);
        if (split) await connectThenReset(p.clientPort);
      }
      await sleep(200);
      await assertServes(p, '40 CONNECTs reset by their sender');
      await assertFdsSettle(p, before, 'the CONNECTs');
    } finally {
      await p.stop();
    }
  });
}

test('regression: a channel push declaring more than --push.max-body-size does not stop the proxy; the scrape fails at once', async () => {
  const p = await spawnProxy([]);
  try {
    const before = p.fds();
    for (let round = 0; round < 3; round++) {
      const fqdn = `huge-${round}.example`;
      const ch = openChannel(p.clientPort, fqdn, (id, socket) => {
        // 600 MB declared against the 512 MB default, and more than the 64 KiB a push is held whole for.
        const head = Buffer.from(`HTTP/1.1 200 OK\r\n${HEADER_ID}: ${id}\r\nContent-Length: 600000000\r\n\r\n`);
        socket.write(encodeFrame(FRAME.DATA, Buffer.concat([head, Buffer.alloc(70 * 1024, 'a')])));
        socket.write(encodeFrame(FRAME.DATA, Buffer.alloc(70 * 1024, 'b')));
      });
      await ch.upgraded;
      const answer = await scrape(p.port, fqdn, 10);
      assert.ok(answer.status >= 500, `expected an error status, got ${answer.status}: ${answer.text.slice(0, 200)}`);
      assert.ok(answer.ms < 5_000, `the scrape took ${Math.round(answer.ms)} ms, expected a prompt failure`);
      ch.socket.destroy();
      await sleep(100);
      assert.equal(p.exited(), undefined, `the proxy exited after an oversized channel push:\n${p.log().slice(-2000)}`);
    }
    await assertServes(p, 'three oversized channel pushes');
    await assertFdsSettle(p, before, 'the oversized pushes');
  } finally {
    await p.stop();
  }
});
