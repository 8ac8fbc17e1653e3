import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Agent } from 'undici';
import { DATA_FRAME_BYTES, encodeFrame, FRAME, FrameReader, silentLogger, type FrameType } from '@pushprox/shared';
import { ChannelPool, type ChannelPoolOptions } from '../../src/transport/channel-pool.js';
import { ClientChannel, WHOLE_WRITE_BYTES } from '../../src/transport/channel.js';
import { ChannelRefused, openChannel } from '../../src/transport/channel-open.js';
import { startClient } from '../../src/index.js';
import { delay, FakeProxy, FQDN, METRICS_TEXT, scrapeRequest, startExporter, testConfig, waitFor } from '../helpers.js';
import { configFromFlags } from '../tls-helpers.js';
import { AbortToken } from '../../src/scraping/abort-token.js';

/** A TCP server that answers each request head with `answer(head)` and keeps the socket. */
async function rawServer(answer: (head: string, socket: net.Socket) => void) {
  const sockets = new Set<net.Socket>();
  const heads: string[] = [];
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = '';
    const onData = (c: Buffer): void => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      heads.push(buf.slice(0, end));
      answer(buf.slice(0, end), s);
    };
    s.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    heads,
    sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A pool on `srv` that must never give up; `over` replaces any option. */
function poolOn(srv: { port: number }, dispatcher: Agent, over: Partial<ChannelPoolOptions>): ChannelPool {
  return new ChannelPool({
    origin: `http://127.0.0.1:${srv.port}`,
    path: '/poll',
    fqdn: 'host-a',
    capacity: 1,
    dispatcher,
    logger: silentLogger,
    onScrape: () => assert.fail('no scrape was sent'),
    onPollError: () => undefined,
    onLost: () => assert.fail('the pool should reconnect'),
    onHandover: () => assert.fail('no RECONNECT was sent'),
    ...over,
  });
}

const SWITCH = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: pushprox-channel/1\r\n\r\n';

test('a channel upgrade answered with an error status is refused with that status and the start of the answer', async (t) => {
  const srv = await rawServer((_h, s) => s.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 30\r\n\r\ntoken may not act for "host-a"'));
  t.after(() => srv.close());
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  await assert.rejects(
    openChannel({ origin: `http://127.0.0.1:${srv.port}`, path: '/poll', fqdn: 'host-a', capacity: 2, dispatcher, authorization: 'Bearer x' }),
    (err: unknown) => err instanceof ChannelRefused && err.status === 403 && /status 403: "token may not act for \\"host-a\\""/.test(err.message),
  );
  const head = srv.heads[0]!;
  assert.match(head, /^GET \/poll HTTP\/1\.1\r\n/);
  assert.match(head, /\r\nupgrade: pushprox-channel\/1/i);
  assert.match(head, /\r\nx-pushprox-channel: host-a/i);
  assert.match(head, /\r\nx-pushprox-poll-capacity: 2/i);
  assert.match(head, /\r\nauthorization: Bearer x/i);
});

test('a channel upgrade that gets no answer fails after the open timeout instead of hanging', async (t) => {
  const srv = await rawServer(() => undefined);
  t.after(() => srv.close());
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const started = Date.now();
  await assert.rejects(
    openChannel({ origin: `http://127.0.0.1:${srv.port}`, path: '/poll', fqdn: 'host-a', capacity: 1, dispatcher, timeoutMs: 300 }),
    /did not answer the channel upgrade within 300 ms/,
  );
  assert.ok(Date.now() - started < 3000);
});

test('a channel whose proxy falls silent is closed and replaced; pings are answered', async (t) => {
  let pongs = 0;
  const srv = await rawServer((_h, s) => {
    s.write(SWITCH);
    // The first channel is pinged once, then stays silent; count the answers.
    if (srv.heads.length === 1) s.write(encodeFrame(FRAME.PING));
    s.on('data', (c: Buffer) => {
      if (c[0] === FRAME.PONG) pongs++;
    });
  });
  t.after(() => srv.close());
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const pool = poolOn(srv, dispatcher, { capacity: 2, silenceMs: 300 });
  await pool.start();
  t.after(() => pool.destroy());
  await waitFor(() => pongs === 1, 2000, 'the PONG');
  await waitFor(() => srv.heads.length >= 3, 3000, 'silent channels to be replaced');
  // Silent channels keep being replaced every 300 ms: between a close and its replacement the pool is empty.
  await waitFor(() => pool.size === 1, 2000, 'a replacement channel open');
});

test('a channel whose scrape ended without a push is replaced, since the proxy still waits for that response', async (t) => {
  const srv = await rawServer((_h, s) => {
    s.write(SWITCH);
    if (srv.heads.length === 1) {
      s.write(encodeFrame(FRAME.REQUEST, Buffer.from('GET http://host-a:9100/metrics HTTP/1.1\r\nHost: host-a:9100\r\nId: 1\r\n\r\n')));
    }
  });
  t.after(() => srv.close());
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  let scrapes = 0;
  const pool = poolOn(srv, dispatcher, {
    // The scrape is given up without pushing (as when its deadline passed first).
    onScrape: async () => {
      scrapes++;
    },
  });
  await pool.start();
  t.after(() => pool.destroy());
  await waitFor(() => srv.heads.length === 2, 3000, 'the channel to be replaced');
  assert.equal(scrapes, 1);
  await waitFor(() => pool.size === 1, 1000, 'one channel again');
});

test('a pool whose last channel closes while another is being opened, which then fails, reports itself lost', async (t) => {
  const sockets: net.Socket[] = [];
  const srv = await rawServer((_h, s) => {
    sockets.push(s);
    if (srv.heads.length === 1) {
      // The only channel takes a scrape, so the pool opens a second one.
      s.write(SWITCH);
      s.write(encodeFrame(FRAME.REQUEST, Buffer.from('GET http://host-a:9100/metrics HTTP/1.1\r\nHost: host-a:9100\r\nId: 1\r\n\r\n')));
      return;
    }
    // While that upgrade waits, the first channel drops; then the upgrade is refused.
    setTimeout(() => {
      sockets[0]!.destroy();
      setTimeout(() => s.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ngone'), 100);
    }, 100);
  });
  t.after(() => srv.close());
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  let lost: unknown;
  const pool = poolOn(srv, dispatcher, {
    capacity: 2,
    onScrape: () => new Promise(() => undefined),
    onLost: (err) => (lost = err),
  });
  await pool.start();
  t.after(() => pool.destroy());
  await waitFor(() => lost !== undefined, 3000, 'the pool to report itself lost');
  assert.match(String(lost), /status 503/);
  assert.equal(pool.size, 0);
});

test('an ERROR frame from the proxy is reported as a refused push, and the channel is replaced', async (t) => {
  const srv = await rawServer((_h, s) => {
    s.write(SWITCH);
    if (srv.heads.length > 1) return;
    s.write(encodeFrame(FRAME.REQUEST, Buffer.from('GET http://host-a:9100/metrics HTTP/1.1\r\nHost: host-a:9100\r\nId: 1\r\n\r\n')));
    // Whatever the client pushes is refused.
    s.once('data', () => {
      s.write(encodeFrame(FRAME.ERROR, Buffer.from('Error pushing: scrape "1" expired or was cancelled before the push arrived')));
      s.end();
    });
  });
  t.after(() => srv.close());
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const refused: string[] = [];
  const pool = poolOn(srv, dispatcher, {
    onScrape: (_req, via) => via.send({ body: Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nId: 1\r\n\r\n'), length: 40 }, new AbortToken()),
    onPushRefused: (text) => refused.push(text),
  });
  await pool.start();
  t.after(() => pool.destroy());
  await waitFor(() => refused.length === 1 && srv.heads.length === 2, 3000, 'the refusal and a new channel');
  assert.match(refused[0]!, /expired or was cancelled/);
});

/** A ClientChannel on a real loopback socket, the frames its peer received, and the writes it made. */
async function channelPair(t: { after(fn: () => unknown): void }) {
  const received: Array<{ type: FrameType | 'DATA'; bytes: Buffer }> = [];
  const reader = new FrameReader(
    {
      onData: (bytes) => received.push({ type: 'DATA', bytes: Buffer.from(bytes) }),
      onFrame: (type, payload) => received.push({ type, bytes: Buffer.from(payload) }),
    },
    [FRAME.DATA, FRAME.END, FRAME.CLOSE],
  );
  let peer: net.Socket | undefined;
  const server = net.createServer((s) => {
    peer = s;
    s.on('data', (c: Buffer) => reader.push(c));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((r) => socket.once('connect', r));
  t.after(() => {
    socket.destroy();
    peer?.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const writes: Array<{ chunk: Buffer; corked: boolean }> = [];
  const write = socket.write.bind(socket) as (chunk: Buffer) => boolean;
  socket.write = ((chunk: Buffer) => {
    writes.push({ chunk, corked: socket.writableCorked > 0 });
    return write(chunk);
  }) as typeof socket.write;
  const channel = new ClientChannel(socket, {
    onRequest: () => assert.fail('no request was sent'),
    onProxyError: () => assert.fail('no error was sent'),
    onReconnect: () => assert.fail('no RECONNECT was sent'),
    onClosed: () => undefined,
    logger: silentLogger,
  });
  /** The DATA bytes received before END, once END arrived. */
  const pushed = async (): Promise<Buffer> => {
    await waitFor(() => received.some((f) => f.type === FRAME.END), 3000, 'END');
    return Buffer.concat(received.filter((f) => f.type === 'DATA').map((f) => f.bytes));
  };
  return { channel, socket, writes, received, pushed };
}

test('a small response read whole leaves on its channel in one write: DATA, the body and END in one buffer', async (t) => {
  const { channel, socket, writes, pushed } = await channelPair(t);
  const head = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 12000\r\nId: 1\r\n\r\n');
  const chunks = [Buffer.alloc(8000, 'a'), Buffer.alloc(4000, 'b')];
  const length = head.length + 12000;
  await channel.send({ body: [head, ...chunks], length }, new AbortToken());
  assert.equal(socket.writableCorked, 0);
  assert.equal(writes.length, 1, 'one write() for the whole exchange');
  const body = Buffer.concat([head, ...chunks]);
  assert.deepEqual(writes[0]!.chunk, Buffer.concat([Buffer.from([FRAME.DATA]), u32(body.length), body, encodeFrame(FRAME.END)]));
  assert.deepEqual(await pushed(), body);
});

test('a response read whole but larger than WHOLE_WRITE_BYTES leaves in one corked write of the buffers as they are (no copy)', async (t) => {
  const { channel, socket, writes, pushed } = await channelPair(t);
  const head = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${WHOLE_WRITE_BYTES}\r\nId: 1\r\n\r\n`);
  const chunks = [Buffer.alloc(WHOLE_WRITE_BYTES - 4000, 'a'), Buffer.alloc(4000, 'b')];
  await channel.send({ body: [head, ...chunks], length: head.length + WHOLE_WRITE_BYTES }, new AbortToken());
  assert.equal(socket.writableCorked, 0);
  assert.ok(writes.every((w) => w.corked), 'every part is written while the socket is corked');
  // The header, then the very buffers of the response (the same memory, not copies), then END.
  assert.equal(writes.length, 5);
  assert.equal(writes[1]!.chunk, head);
  assert.equal(writes[2]!.chunk, chunks[0]);
  assert.equal(writes[3]!.chunk, chunks[1]);
  assert.deepEqual(await pushed(), Buffer.concat([head, ...chunks]));
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

test('parts larger than a DATA frame are pushed on a channel split into DATA frames', async (t) => {
  const { channel, writes, pushed } = await channelPair(t);
  const parts = [Buffer.alloc(DATA_FRAME_BYTES, 'x'), Buffer.alloc(1000, 'y')];
  await channel.send({ body: parts, length: DATA_FRAME_BYTES + 1000 }, new AbortToken());
  assert.deepEqual(await pushed(), Buffer.concat(parts));
  // The lengths the DATA frame headers declared: one frame per part, none above the limit.
  const declared = writes
    .filter((w) => w.chunk.length === 5 && w.chunk[0] === FRAME.DATA)
    .map((w) => w.chunk.readUInt32BE(1));
  assert.deepEqual(declared, [DATA_FRAME_BYTES, 1000]);
});

test('the channel is on by default; --no-proxy.channel and --proxy.channel=false turn it off', async () => {
  const url = 'http://127.0.0.1:1';
  assert.equal((await configFromFlags(url, [])).channel, true);
  assert.equal((await configFromFlags(url, ['--proxy.channel'])).channel, true);
  assert.equal((await configFromFlags(url, ['--no-proxy.channel'])).channel, false);
  assert.equal((await configFromFlags(url, ['--proxy.channel=false'])).channel, false);
});

test('a scrape handed to a poll the client holds just as its channel opens is still run and pushed: switching to the channel aborts no poll', { timeout: 20_000 }, async (t) => {
  const exporter = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => exporter.close());
  // The proxy offers no channel at first, so the client polls and holds polls.
  const proxy = await FakeProxy.start('ours');
  t.after(() => proxy.close());
  const client = await startClient(testConfig(proxy.url, { channel: true }), { env: {} });
  t.after(() => client.stop());
  await waitFor(() => proxy.held.length > 0, 5000, 'a held poll');
  const target = `http://${FQDN}:${exporter.port}/metrics`;
  const first = scrapeRequest({ target });
  const second = scrapeRequest({ target });
  // The race a proxy can lose: a scrape goes to a poll the client holds while the
  // client takes the 101; a client that then aborted its polls would lose the reply.
  proxy.onUpgrade = () => {
    waitFor(() => proxy.held.length > 0, 5000, 'a held poll at the upgrade').then(
      () => setTimeout(() => proxy.scrape(second.bytes), 100),
      () => undefined,
    );
  };
  // The reply that carries the first scrape offers the channel: the client opens one
  // while it runs the scrape and polls again.
  proxy.channel = true;
  proxy.scrape(first.bytes);
  for (const { id } of [first, second]) {
    const push = await proxy.waitPush(id);
    assert.equal(push.parsed.head.status, 200, push.parsed.body.toString());
    assert.equal(push.parsed.body.toString(), METRICS_TEXT);
  }
  assert.equal(client.pollMode, 'channel');
  // The retired poller sends no poll after that.
  const polls = proxy.polls.length;
  await delay(300);
  assert.equal(proxy.polls.length, polls);
});
