import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import { AbortToken } from '../../src/scraping/abort-token.js';
import { PlainHttp, writableRequest, type PlainRequest } from '../../src/exporter-http/plain-http.js';
import { ChunkedDecoder, parseHead } from '../../src/exporter-http/response-parser.js';

/**
 * The client's plain-http scrape path against real exporters on loopback
 * that answer with scripted bytes: framing, connection reuse, and every way
 * an exporter can lie, stall, reset or flood. Nothing may stop the process
 * or hang; a connection is reused only after a response framed exactly.
 */

interface Script {
  /** Bytes written for the n-th request of the n-th connection (both from 0), or a function doing its own writing. */
  (socket: net.Socket, request: number, connection: number): void;
}

async function exporter(script: Script): Promise<{ port: number; connections: () => number; requests: () => number; sockets: net.Socket[] }> {
  let connections = 0;
  let requests = 0;
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    const conn = connections++;
    sockets.push(s);
    s.on('error', () => undefined);
    let n = 0;
    let buf = '';
    s.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        requests++;
        script(s, n++, conn);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as net.AddressInfo).port, connections: () => connections, requests: () => requests, sockets };
}

function request(port: number, signal = new AbortToken(), method: 'GET' | 'HEAD' = 'GET'): [PlainRequest, string] {
  const r = { host: '127.0.0.1', port, hostHeader: `127.0.0.1:${port}`, method, path: '/metrics', headers: ['Accept', 'text/plain'], signal };
  return [r, writableRequest(r)!];
}

async function text(body: NodeJS.ReadableStream): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('latin1');
}

const OK = (body: string, extra = '') => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;

test('a kept-alive connection carries every scrape: three scrapes, one connection, the head as sent', async () => {
  const exp = await exporter((s) => s.write(OK('up 1\n', 'Content-Type: text/plain; version=0.0.4\r\nX-Odd-Case: A b \r\n')));
  const http = new PlainHttp();
  for (let i = 0; i < 3; i++) {
    const res = await http.request(...request(exp.port));
    assert.equal(res.statusCode, 200);
    assert.equal(res.statusText, 'OK');
    assert.deepEqual(res.headers, ['Content-Length', '5', 'Content-Type', 'text/plain; version=0.0.4', 'X-Odd-Case', 'A b']);
    // A small body that came with its head is handed over whole; its stream still reads the same.
    assert.equal(res.whole?.toString(), 'up 1\n');
    assert.equal(await text(res.body), 'up 1\n');
  }
  assert.equal(exp.connections(), 1);
  assert.equal(http.idleCount, 1);
  http.close();
  assert.equal(http.idleCount, 0);
});

test('regression: a kept-alive connection the exporter closes as it is reused is sent again once, on a new one', async () => {
  const exp = await exporter((s, n) => (n === 0 ? s.write(OK('up 1\n')) : s.destroy()));
  const http = new PlainHttp();
  for (let i = 0; i < 3; i++) assert.equal(await text((await http.request(...request(exp.port))).body), 'up 1\n');
  assert.equal(exp.connections(), 3);
  http.close();
});

test('a new connection that closes before any answer is not retried: the scrape fails with the reason', async () => {
  const exp = await exporter((s) => s.destroy());
  const http = new PlainHttp();
  await assert.rejects(http.request(...request(exp.port)), /other side closed|ECONNRESET/);
  assert.equal(exp.connections(), 1);
});

test("an exporter's Keep-Alive timeout is believed less 1 s: timeout=1 keeps nothing", async () => {
  const exp = await exporter((s) => s.write(OK('x', 'Keep-Alive: timeout=1\r\n')));
  const http = new PlainHttp();
  for (let i = 0; i < 2; i++) await text((await http.request(...request(exp.port))).body);
  assert.equal(exp.connections(), 2);
  assert.equal(http.idleCount, 0);
});

test('Connection: close, and HTTP/1.0 without keep-alive, are honoured: the connection is not kept', async () => {
  const answers = [OK('a', 'Connection: close\r\n'), 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb', 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\nc'];
  const exp = await exporter((s, n, conn) => s.write(answers[conn]!));
  const http = new PlainHttp();
  for (const want of ['a', 'b', 'c']) assert.equal(await text((await http.request(...request(exp.port))).body), want);
  assert.equal(exp.connections(), 3);
  assert.equal(http.idleCount, 1, 'only the HTTP/1.0 keep-alive connection is kept');
  http.close();
});

test('a reused connection that breaks after part of an answer is not retried: the scrape fails', async () => {
  const exp = await exporter((s, n) => (n === 0 ? s.write(OK('a')) : s.end('HTTP/1.1 200 OK\r\nContent-Le')));
  const http = new PlainHttp();
  assert.equal(await text((await http.request(...request(exp.port))).body), 'a');
  await assert.rejects(http.request(...request(exp.port)), /other side closed/);
  assert.equal(exp.connections(), 1);
});

test('an idle connection is closed after the idle timeout, and the next scrape opens a new one', async () => {
  const exp = await exporter((s) => s.write(OK('x')));
  const http = new PlainHttp({ idleTimeoutMs: 100 });
  await text((await http.request(...request(exp.port))).body);
  assert.equal(http.idleCount, 1);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(http.idleCount, 0);
  await text((await http.request(...request(exp.port))).body);
  assert.equal(exp.connections(), 2);
  http.close();
});

test('chunked bodies are decoded across any split, with extensions and trailers, and the connection is reused', async () => {
  const wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer-A: 1\r\n\r\n';
  // Written a few bytes at a time.
  const exp = await exporter((s) => {
    for (let i = 0; i < wire.length; i += 7) s.write(wire.slice(i, i + 7));
  });
  const http = new PlainHttp();
  for (let i = 0; i < 2; i++) {
    const res = await http.request(...request(exp.port));
    assert.equal(res.whole, undefined);
    assert.equal(await text(res.body), 'hello world');
  }
  assert.equal(exp.connections(), 1);
  http.close();
});

test('interim 1xx answers are skipped; a body delimited by the close ends with it and its connection is not kept', async () => {
  const exp = await exporter((s) => s.end('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close'));
  const http = new PlainHttp();
  const res = await http.request(...request(exp.port));
  assert.equal(res.statusCode, 200);
  assert.equal(await text(res.body), 'until close');
  assert.equal(http.idleCount, 0);
});

test('HEAD, 204 and 304 have no body whatever their Content-Length says, and the connection is kept', async () => {
  const heads = ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n', 'HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n', 'HTTP/1.1 304 Not Modified\r\n\r\n'];
  const exp = await exporter((s, n) => s.write(heads[n]!));
  const http = new PlainHttp();
  for (const method of ['HEAD', 'GET', 'GET'] as const) assert.equal(await text((await http.request(...request(exp.port, new AbortToken(), method))).body), '');
  assert.equal(exp.connections(), 1);
  http.close();
});

test('a reused connection idles from its latest park: its idle timer is refreshed, not left from the first', async () => {
  const exp = await exporter((s) => s.write(OK('x')));
  const http = new PlainHttp({ idleTimeoutMs: 200 });
  // Three scrapes 120 ms apart: each is within 200 ms of the one before, none within 200 ms of the first park.
  for (let i = 0; i < 3; i++) {
    await text((await http.request(...request(exp.port))).body);
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(http.idleCount, 1, `still idle and kept after scrape ${i + 1}`);
  }
  assert.equal(exp.connections(), 1, 'one connection for all three');
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(http.idleCount, 0, 'closed once idle for the timeout');
  http.close();
});

test('bytes after a framed response, or while idle, mean the stream is out of step: that connection is never reused', async () => {
  const exp = await exporter((s, n, conn) => {
    if (conn === 0) s.write(`${OK('a')}HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nX`);
    else {
      s.write(OK('b'));
      if (n === 0) setTimeout(() => s.write('junk'), 20);
    }
  });
  const http = new PlainHttp();
  assert.equal(await text((await http.request(...request(exp.port))).body), 'a');
  assert.equal(http.idleCount, 0);
  assert.equal(await text((await http.request(...request(exp.port))).body), 'b');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(http.idleCount, 0, 'the connection that got bytes while idle was dropped');
  assert.equal(await text((await http.request(...request(exp.port))).body), 'b');
  assert.equal(exp.connections(), 3);
  http.close();
});

test('heads that lie are refused with the reason, and nothing is reused: conflicting lengths, obs-fold, bad status, oversized head, 101', async () => {
  const lies: ReadonlyArray<[string, RegExp]> = [
    ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', /invalid Content-Length/],
    ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /invalid Content-Length/],
    ['HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n', /invalid header line/],
    ['HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n', /invalid header line/],
    ['HTTP/2 200\r\n\r\n', /invalid status line/],
    ['ICY 200 OK\r\n\r\n', /invalid status line/],
    [`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, /response head larger than 16384 bytes/],
    ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n', /unexpected 101/],
  ];
  const exp = await exporter((s, n, conn) => s.write(lies[conn]![0]));
  const http = new PlainHttp();
  for (const [, why] of lies) await assert.rejects(http.request(...request(exp.port)), why);
  assert.equal(exp.connections(), lies.length);
  assert.equal(http.idleCount, 0);
});

test('a head that never ends is bounded: an endless stream of header bytes fails at 16 KiB, not at the deadline', async () => {
  const exp = await exporter((s) => {
    s.write('HTTP/1.1 200 OK\r\n');
    const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write(`X-${Math.random()}: ${'b'.repeat(1000)}\r\n`)), 1);
  });
  await assert.rejects(new PlainHttp().request(...request(exp.port)), /response head larger than 16384 bytes/);
});

test('a body cut short reports the bytes before the cut, then the error; a bad chunk likewise', async () => {
  const cuts = [`HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n${'x'.repeat(40)}`, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n'];
  const exp = await exporter((s, n, conn) => s.end(cuts[conn]!));
  const http = new PlainHttp();
  for (const [want, why] of [[40, /other side closed/], [3, /invalid chunk size line "zz"/]] as const) {
    const res = await http.request(...request(exp.port));
    let got = 0;
    await assert.rejects(
      (async () => {
        for await (const c of res.body) got += (c as Buffer).length;
      })(),
      why,
    );
    assert.equal(got, want);
  }
});

test('a scrape aborted while the exporter stalls, before or after its head, ends at once and closes the connection', async () => {
  const exp = await exporter((s, n, conn) => {
    if (conn === 1) s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
  });
  const http = new PlainHttp();
  const before = new AbortToken();
  const pending = http.request(...request(exp.port, before));
  setTimeout(() => before.abort(new Error('scrape timeout')), 50);
  await assert.rejects(pending, /scrape timeout/);
  const during = new AbortToken();
  const res = await http.request(...request(exp.port, during));
  setTimeout(() => during.abort(new Error('scrape deadline passed')), 50);
  await assert.rejects(text(res.body), /scrape deadline passed/);
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(exp.sockets.every((s) => s.destroyed || s.readableEnded), 'both connections were closed by the client');
  assert.equal(http.idleCount, 0);
});

test('an exporter that resets in the middle of a body: the reader gets the error, the process goes on', async () => {
  const exp = await exporter((s) => {
    s.write(`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n${'y'.repeat(5000)}`);
    setTimeout(() => s.resetAndDestroy(), 20);
  });
  const res = await new PlainHttp().request(...request(exp.port));
  await assert.rejects(text(res.body), /ECONNRESET|other side closed/);
});

test('a body nobody reads holds at most about 64 KiB in the client: the exporter is held back by TCP', async () => {
  const size = 64 * 1024 * 1024;
  let finished = false;
  const exp = await exporter((s) => {
    s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`);
    const block = Buffer.alloc(1024 * 1024, 'z');
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        sent += block.length;
        if (!s.write(block)) return void s.once('drain', pump);
      }
      finished = true;
    };
    pump();
  });
  const res = await new PlainHttp().request(...request(exp.port));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(finished, false, 'the exporter could not write 64 MB to a reader that takes nothing');
  assert.ok(res.body.readableLength <= 1024 * 1024, `the body holds ${res.body.readableLength} bytes`);
  res.body.destroy();
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(exp.sockets[0]!.destroyed || exp.sockets[0]!.readableEnded, 'dropping the body closed the connection');
});

test('idle connections are bounded per origin', async () => {
  const exp = await exporter((s) => setTimeout(() => s.write(OK('x')), 30));
  const http = new PlainHttp({ maxIdlePerOrigin: 2 });
  const all = await Promise.all(Array.from({ length: 5 }, () => http.request(...request(exp.port))));
  await Promise.all(all.map((r) => text(r.body)));
  assert.equal(exp.connections(), 5);
  assert.equal(http.idleCount, 2);
  http.close();
});

test('a request that cannot be written safely is left to undici: CR or LF in a field, a name that is not a token, a path with a space', () => {
  const base = { hostHeader: 'h:1', method: 'GET' as const, path: '/metrics', headers: ['Accept', 'text/plain'] };
  assert.equal(writableRequest(base), 'GET /metrics HTTP/1.1\r\nHost: h:1\r\nAccept: text/plain\r\n\r\n');
  assert.equal(writableRequest({ ...base, headers: ['X-A', 'a\r\nInjected: 1'] }), undefined);
  // Written as latin1, a char above U+00FF would reach the wire as another byte.
  assert.equal(writableRequest({ ...base, headers: ['X-A', 'caf\u00e9 \u20ac'] }), undefined);
  assert.equal(writableRequest({ ...base, headers: ['X A', 'b'] }), undefined);
  assert.equal(writableRequest({ ...base, path: '/metrics x' }), undefined);
  assert.equal(writableRequest({ ...base, path: 'metrics' }), undefined);
});

test('the head parser: Transfer-Encoding beats Content-Length and the connection is then not kept; HTTP/1.0 keeps only on keep-alive', () => {
  const te = parseHead('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked', 'GET');
  assert.deepEqual([te.framing.kind, te.reusable], ['chunked', false]);
  const gzipOnly = parseHead('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip', 'GET');
  assert.deepEqual([gzipOnly.framing.kind, gzipOnly.reusable], ['close', false]);
  assert.equal(parseHead('HTTP/1.0 200 OK\r\nContent-Length: 1', 'GET').reusable, false);
  assert.equal(parseHead('HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive', 'GET').reusable, true);
  assert.equal(parseHead('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close', 'GET').reusable, false);
  assert.equal(parseHead('HTTP/1.1 200 OK\r\nContent-Length: 1, 1', 'GET').reusable, true);
});

test('the chunked decoder refuses oversized sizes and lines, and data longer than its chunk', () => {
  const bad = ['fffffffffffffffff\r\n', `1;${'e'.repeat(5000)}\r\n`, '1\r\nab\r\n', '1\nx\r\n'];
  for (const wire of bad) assert.ok(new ChunkedDecoder().feed(Buffer.from(wire)).error, JSON.stringify(wire.slice(0, 30)));
  const ok = new ChunkedDecoder().feed(Buffer.from('2\r\nab\r\n0\r\n\r\nNEXT'));
  assert.deepEqual([Buffer.concat(ok.data).toString(), ok.done, ok.rest?.toString()], ['ab', true, 'NEXT']);
});
