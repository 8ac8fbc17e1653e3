import { test } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  encodeFrame,
  FRAME,
  frameHeader,
  FrameReader,
  parseRequest,
  silentLogger,
  type FrameType,
} from '@pushprox/shared';
import { startProxy } from '../../src/listeners/server.js';
import { loadTokenFile } from '../../src/auth/client-auth.js';
import { closing, connect, exchange, readOne, TEST_CONFIG, until, withProxy } from '../helpers.js';

/** A whole push as a client writes a small one: DATA with the inner response, then END. */
function encodeDataAndEnd(body: Buffer): Buffer {
  return Buffer.concat([encodeFrame(FRAME.DATA, body), encodeFrame(FRAME.END)]);
}

/** A raw channel: the upgrade answer's head, and the frames the proxy sent since. */
interface RawChannel {
  readonly status: number;
  readonly headText: string;
  readonly socket: net.Socket;
  readonly frames: Array<{ type: FrameType; payload: Buffer }>;
  readonly closed: Promise<void>;
}

function upgradeRequest(fqdn: string | undefined, extra = '', protocol = 'pushprox-channel/1'): string {
  return (
    `GET /poll HTTP/1.1\r\nHost: proxy\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\n` +
    (fqdn === undefined ? '' : `X-Pushprox-Channel: ${fqdn}\r\n`) +
    `X-Pushprox-Poll-Capacity: 4\r\n${extra}\r\n`
  );
}

async function openRaw(port: number, request: string): Promise<RawChannel> {
  const socket = await connect(port);
  const frames: RawChannel['frames'] = [];
  const reader = new FrameReader(
    { onData: () => assert.fail('the proxy sent DATA'), onFrame: (type, p) => frames.push({ type, payload: Buffer.from(p) }) },
    [FRAME.REQUEST, FRAME.PING, FRAME.PONG, FRAME.ERROR, FRAME.RECONNECT],
  );
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let pending = Buffer.alloc(0);
  const head = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      pending = Buffer.concat([pending, chunk]);
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const text = pending.subarray(0, end).toString('latin1');
      const rest = pending.subarray(end + 4);
      socket.on('data', (c: Buffer) => {
        if (text.startsWith('HTTP/1.1 101')) reader.push(c);
      });
      if (rest.length > 0 && text.startsWith('HTTP/1.1 101')) reader.push(rest);
      resolve(rest.length > 0 && !text.startsWith('HTTP/1.1 101') ? `${text}\r\n\r\n${rest.toString()}` : text);
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(request);
  });
  return { status: Number(head.slice(9, 12)), headText: head, socket, frames, closed };
}

const scrape = (url: string, timeout = '5') =>
  `GET ${url} HTTP/1.1\r\nHost: ${new URL(url).host}\r\nX-Prometheus-Scrape-Timeout-Seconds: ${timeout}\r\n\r\n`;
const inner = (id: string, body: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\nId: ${id}\r\n\r\n${body}`;

test('channel carries scrape after scrape: REQUEST out, DATA and END back, relayed to the scraper', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const ch = await openRaw(port, upgradeRequest('host-a'));
    assert.equal(ch.status, 101, ch.headText);
    assert.match(ch.headText, /Upgrade: pushprox-channel\/1/);
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    const clients = await exchange(port, 'GET /clients HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.deepEqual(JSON.parse(clients.body.toString()), [{ targets: ['host-a'], labels: {} }]);
    const metrics = (await exchange(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')).body.toString();
    assert.match(metrics, /^pushprox_proxy_channels 1$/m);
    for (let i = 0; i < 3; i++) {
      const s = exchange(port, scrape('http://host-a:9100/metrics'));
      await until(() => ch.frames.length === i + 1, 2000, `REQUEST ${i}`);
      const req = ch.frames[i]!;
      assert.equal(req.type, FRAME.REQUEST);
      const parsed = parseRequest(req.payload);
      assert.equal(parsed.head.target, 'http://host-a:9100/metrics');
      const id = parsed.head.headers.get('Id')!;
      // Split across frames and writes, as a streaming client would send it.
      const bytes = Buffer.from(inner(id, `up ${i}\n`));
      ch.socket.write(Buffer.concat([frameHeader(FRAME.DATA, 10), bytes.subarray(0, 10)]));
      ch.socket.write(encodeDataAndEnd(bytes.subarray(10)));
      const got = await s;
      assert.equal(got.head.status, 200);
      assert.equal(got.body.toString(), `up ${i}\n`);
      assert.equal(got.head.headers.get('Id'), undefined, 'internal headers never reach the scraper');
    }
    await until(() => proxy.coordinator.stats().waitingPolls === 1, 2000, 'the channel to wait again');
    ch.socket.write(encodeFrame(FRAME.PING));
    await until(() => ch.frames.some((f) => f.type === FRAME.PONG), 2000, 'PONG');
    ch.socket.write(encodeFrame(FRAME.CLOSE));
    await ch.closed;
    await until(() => proxy.coordinator.stats().waitingPolls === 0, 2000, 'the closed channel to be forgotten');
    const after = (await exchange(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')).body.toString();
    assert.match(after, /^pushprox_proxy_channels 0$/m);
    // Each scrape counted as upstream's /poll (handed out) and /push (relayed).
    assert.match(after, /^pushprox_http_requests_total\{code="200",path="\/push"\} 3$/m);
  });
});

test('channel streams a large pushed body with backpressure to a slow scraper', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const ch = await openRaw(port, upgradeRequest('host-a'));
    // The scraper sends its request and then reads nothing until told to.
    const prom = await connect(port);
    prom.pause();
    prom.write(closing(Buffer.from(scrape('http://host-a:9100/metrics', '60'))));
    await until(() => ch.frames.length === 1);
    const id = parseRequest(ch.frames[0]!.payload).head.headers.get('Id')!;
    const size = 64 * 1024 * 1024;
    ch.socket.write(encodeFrame(FRAME.DATA, Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\nId: ${id}\r\n\r\n`)));
    const chunk = Buffer.alloc(256 * 1024, 'm');
    const frame = Buffer.concat([frameHeader(FRAME.DATA, chunk.length), chunk]);
    const drained = (ms: number) =>
      Promise.race([new Promise<boolean>((r) => ch.socket.once('drain', () => r(true))), new Promise<boolean>((r) => setTimeout(r, ms, false))]);
    let sent = 0;
    // While the scraper reads nothing the proxy must stop reading the channel: writes stall.
    while (sent < size) {
      sent += chunk.length;
      if (!ch.socket.write(frame) && !(await drained(500))) break;
    }
    assert.ok(sent < size / 2, `the channel took ${sent} of ${size} bytes while the scraper read nothing`);
    const stalledAt = sent;
    const got = readOne(prom, 30_000);
    while (sent < size) {
      sent += chunk.length;
      if (!ch.socket.write(frame)) await drained(10_000);
    }
    ch.socket.write(encodeFrame(FRAME.END));
    const r = await got;
    assert.equal(r.head.status, 200);
    assert.equal(r.body.length, size);
    assert.ok(stalledAt > 0);
  });
});

test('channel upgrade is refused with a clear status: wrong protocol, no FQDN, no token, scraper listener', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pp-ch-'));
  const tokenFile = path.join(dir, 'tokens');
  fs.writeFileSync(tokenFile, 's3cret-token-0123456789 host-a\n');
  const proxy = await startProxy(
    { ...TEST_CONFIG, clientListen: { host: '127.0.0.1', port: 0 } },
    { logger: silentLogger, clientTokens: loadTokenFile(tokenFile) },
  );
  try {
    const cport = proxy.clientAddress!.port;
    const wrong = await openRaw(cport, upgradeRequest('host-a', 'Authorization: Bearer s3cret-token-0123456789\r\n', 'websocket'));
    assert.equal(wrong.status, 400);
    assert.match(wrong.headText, /expected "Upgrade: pushprox-channel\/1" on \/poll, got "websocket"/);
    const noFqdn = await openRaw(cport, upgradeRequest(undefined, 'Authorization: Bearer s3cret-token-0123456789\r\n'));
    assert.equal(noFqdn.status, 400);
    const noToken = await openRaw(cport, upgradeRequest('host-a'));
    assert.equal(noToken.status, 401);
    assert.match(noToken.headText, /expected "Authorization: Bearer <token>"/);
    const otherHost = await openRaw(cport, upgradeRequest('host-b', 'Authorization: Bearer s3cret-token-0123456789\r\n'));
    assert.equal(otherHost.status, 403);
    const scraperSide = await openRaw(proxy.address.port, upgradeRequest('host-a', 'Authorization: Bearer s3cret-token-0123456789\r\n'));
    assert.equal(scraperSide.status, 404);
    const ok = await openRaw(cport, upgradeRequest('host-a', 'Authorization: Bearer s3cret-token-0123456789\r\n'));
    assert.equal(ok.status, 101);
    for (const c of [wrong, noFqdn, noToken, otherHost, scraperSide, ok]) c.socket.destroy();
  } finally {
    await proxy.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a channel request whose Upgrade or "Connection: Upgrade" was dropped on the way is refused with 400 saying which, not as an empty FQDN', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    // What nginx's plain proxy_pass or squid without http_upgrade_request_protocols forward.
    const stripped = await openRaw(port, 'GET /poll HTTP/1.1\r\nHost: proxy\r\nX-Pushprox-Channel: host-a\r\nX-Pushprox-Poll-Capacity: 4\r\n\r\n');
    assert.equal(stripped.status, 400);
    assert.match(stripped.headText, /channel request for "host-a" arrived without "Upgrade: pushprox-channel\/1": a proxy between client and proxy dropped the upgrade/);
    stripped.socket.destroy();
    // nginx with "proxy_set_header Upgrade" but without "Connection upgrade" on /poll.
    const noConnection = await openRaw(port, 'GET /poll HTTP/1.1\r\nHost: proxy\r\nUpgrade: pushprox-channel/1\r\nX-Pushprox-Channel: host-a\r\n\r\n');
    assert.equal(noConnection.status, 400);
    assert.match(noConnection.headText, /arrived without "Connection: Upgrade": a proxy between client and proxy dropped the upgrade/);
    noConnection.socket.destroy();
  });
});

test('channel breach (DATA with no REQUEST) gets an ERROR frame naming the rule, then the channel closes', async () => {
  await withProxy({}, async (proxy) => {
    const ch = await openRaw(proxy.address.port, upgradeRequest('host-a'));
    await until(() => proxy.coordinator.stats().waitingPolls === 1);
    ch.socket.write(encodeDataAndEnd(Buffer.from('HTTP/1.1 200 OK\r\n\r\n')));
    await ch.closed;
    const err = ch.frames.find((f) => f.type === FRAME.ERROR);
    assert.ok(err, 'an ERROR frame');
    assert.match(err.payload.toString(), /expected DATA only in answer to a REQUEST/);
    assert.equal(proxy.coordinator.stats().waitingPolls, 0);
  });
});

test('channel push for an expired scrape is dropped without ERROR; the same channel answers the next scrape', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const ch = await openRaw(port, upgradeRequest('host-a'));
    const s = exchange(port, scrape('http://host-a:9100/metrics', '0.2'));
    await until(() => ch.frames.length === 1);
    const id = parseRequest(ch.frames[0]!.payload).head.headers.get('Id')!;
    assert.equal((await s).head.status, 500);
    ch.socket.write(encodeDataAndEnd(Buffer.from(inner(id, 'late\n'))));
    const s2 = exchange(port, scrape('http://host-a:9100/metrics'));
    await until(() => ch.frames.length === 2);
    const id2 = parseRequest(ch.frames[1]!.payload).head.headers.get('Id')!;
    ch.socket.write(encodeDataAndEnd(Buffer.from(inner(id2, 'up 1\n'))));
    assert.equal((await s2).body.toString(), 'up 1\n');
    assert.equal(ch.frames.find((f) => f.type === FRAME.ERROR), undefined);
    ch.socket.destroy();
  });
});

/** A channel for host-a that has been handed one scrape (its Id), and the scraper's pending answer. */
async function channelWithScrape(port: number, timeout: string) {
  const ch = await openRaw(port, upgradeRequest('host-a'));
  const started = Date.now();
  const s = exchange(port, scrape('http://host-a:9100/metrics', timeout));
  await until(() => ch.frames.length === 1);
  const id = parseRequest(ch.frames[0]!.payload).head.headers.get('Id')!;
  return { ch, s, started, id };
}

test('a scrape on a channel that closes mid-push fails at once instead of waiting for its timeout', async () => {
  await withProxy({}, async (proxy) => {
    const { ch, s, started, id } = await channelWithScrape(proxy.address.port, '30');
    ch.socket.write(encodeFrame(FRAME.DATA, Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 100\r\nId: ${id}\r\n\r\nhalf`)));
    await new Promise((r) => setTimeout(r, 50));
    ch.socket.destroy();
    const got = await s.catch(() => undefined);
    // The head may already be relayed (then the connection is cut) or not (then a 5xx).
    if (got) assert.ok(got.head.status >= 500 || got.body.length < 100, `status ${got.head.status}, ${got.body.length} bytes`);
    assert.ok(Date.now() - started < 10_000, 'failed well before the 30 s scrape timeout');
    await until(() => proxy.coordinator.stats().activeScrapes === 0, 2000, 'the scrape to be forgotten');
  });
});

test('the proxy pings an idle channel and closes one that stops answering', async () => {
  const proxy = await startProxy(TEST_CONFIG, { logger: silentLogger, channelPingMs: 100, channelSilenceMs: 600 });
  try {
    const ch = await openRaw(proxy.address.port, upgradeRequest('host-a'));
    // This peer never answers PONG: pinged, then closed as silent.
    await until(() => ch.frames.some((f) => f.type === FRAME.PING), 2000, 'a PING');
    await ch.closed;
    assert.match(ch.frames.find((f) => f.type === FRAME.ERROR)?.payload.toString() ?? '', /channel silent/);
    assert.equal(proxy.coordinator.stats().waitingPolls, 0);
  } finally {
    await proxy.close();
  }
});

test('a channel that takes a scrape and never answers is closed after the longest scrape', async () => {
  const proxy = await startProxy({ ...TEST_CONFIG, scrapeMaxTimeoutMs: 300 }, { logger: silentLogger, channelPingMs: 100, channelSilenceMs: 300 });
  try {
    const port = proxy.address.port;
    const ch = await openRaw(port, upgradeRequest('host-a'));
    const s = exchange(port, scrape('http://host-a:9100/metrics', '10'));
    await until(() => ch.frames.some((f) => f.type === FRAME.REQUEST), 2000, 'the REQUEST');
    assert.equal((await s).head.status, 500);
    await ch.closed;
    assert.match(ch.frames.find((f) => f.type === FRAME.ERROR)?.payload.toString() ?? '', /no response to the scrape request/);
  } finally {
    await proxy.close();
  }
});

test('a scrape handed to a channel that closes before answering fails at once with the reason, not at its deadline', async () => {
  await withProxy({}, async (proxy) => {
    const { ch, s, started } = await channelWithScrape(proxy.address.port, '30');
    ch.socket.destroy();
    const got = await s;
    assert.equal(got.head.status, 500);
    assert.match(got.body.toString(), /channel closed before it answered/);
    assert.ok(Date.now() - started < 5000, `failed after ${Date.now() - started} ms, scrape timeout 30 s`);
    assert.equal(proxy.coordinator.stats().activeScrapes, 0);
  });
});

test('a small push is relayed whole: one with bytes past its framed end is refused with a 5xx naming them, none of it reaching the scraper', async () => {
  await withProxy({}, async (proxy) => {
    const { ch, s, id } = await channelWithScrape(proxy.address.port, '30');
    // Content-Length says 5; 6 more bytes follow: a second message smuggled into the push.
    ch.socket.write(encodeDataAndEnd(Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\nId: ${id}\r\n\r\nup 1\nEXTRA!`)));
    const got = await s;
    assert.equal(got.head.status, 500, 'not a 200 cut short: the push was checked whole before any of it was relayed');
    assert.match(got.body.toString(), /6 bytes follow the end of the message/);
    await ch.closed;
    assert.match(ch.frames.find((f) => f.type === FRAME.ERROR)?.payload.toString() ?? '', /Error pushing: 6 bytes follow the end/);
  });
});

test('a push larger than 64 KiB is not held back: its head reaches the scraper before its END', async () => {
  await withProxy({}, async (proxy) => {
    const port = proxy.address.port;
    const ch = await openRaw(port, upgradeRequest('host-a'));
    const prom = await connect(port);
    let seen = Buffer.alloc(0);
    prom.on('data', (c: Buffer) => (seen = Buffer.concat([seen, c])));
    prom.write(closing(Buffer.from(scrape('http://host-a:9100/metrics', '30'))));
    await until(() => ch.frames.length === 1);
    const id = parseRequest(ch.frames[0]!.payload).head.headers.get('Id')!;
    const size = 200 * 1024;
    ch.socket.write(encodeFrame(FRAME.DATA, Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\nId: ${id}\r\n\r\n`)));
    ch.socket.write(encodeFrame(FRAME.DATA, Buffer.alloc(100 * 1024, 'a')));
    await until(() => seen.includes('HTTP/1.1 200 OK'), 2000, 'the head relayed before END');
    ch.socket.write(encodeFrame(FRAME.DATA, Buffer.alloc(size - 100 * 1024, 'b')));
    ch.socket.write(encodeFrame(FRAME.END));
    await new Promise<void>((resolve) => prom.once('close', () => resolve()));
    const at = seen.indexOf('\r\n\r\n') + 4;
    assert.equal(seen.length - at, size);
    assert.equal(seen.subarray(at).toString().replace(/a+b+/, ''), '');
  });
});
