/**
 * Streaming parsing: same results as the whole-buffer parser however the
 * input is split, bounded memory (head limit, backpressure), and errors
 * surfacing on the promise or on `body`.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ERROR_CODES, WireError, type ErrorCode } from '../src/protocol/errors.js';
import { parseRequest, parseResponse, readRequest, readResponse, type ParseLimits } from '../src/http/index.js';
import { fixture, fixtureNames } from '../src/testing/fixtures.js';
import { mulberry32 } from '../src/testing/random.js';

const C = ERROR_CODES;
const MB = 1024 * 1024;

/** `buf` cut into pieces of 1..maxPiece bytes. */
function split(buf: Buffer, rand: () => number, maxPiece: number): Buffer[] {
  const out: Buffer[] = [];
  for (let pos = 0; pos < buf.length; ) {
    const n = 1 + Math.floor(rand() * maxPiece);
    out.push(buf.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

const sourceOf = (chunks: Buffer[]): Readable => Readable.from(chunks, { objectMode: false });

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

function isWire(code: ErrorCode): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof WireError, `expected a WireError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

function randomBytes(n: number, rand: () => number): Buffer {
  const buf = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 4) buf.writeUInt32LE((rand() * 0x100000000) >>> 0, Math.min(i, n - 4));
  return buf;
}

/** Chunked transfer coding of `body`, with chunks of random sizes. */
function chunkEncode(body: Buffer, rand: () => number, maxChunk: number): Buffer {
  const parts: Buffer[] = [];
  for (const piece of split(body, rand, maxChunk)) parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

/**
 * A lazy source of `total` bytes: `prefix` then body pieces made on demand,
 * counting what it has produced, so tests can see how far ahead it was read.
 */
function countingSource(prefix: Buffer, pieces: () => Buffer | null): { source: Readable; produced: () => number } {
  let produced = 0;
  let sentPrefix = false;
  const source = new Readable({
    read() {
      const next = sentPrefix ? pieces() : prefix;
      sentPrefix = true;
      if (next !== null) produced += next.length;
      this.push(next);
    },
  });
  return { source, produced: () => produced };
}

test('a 20 MB Content-Length body fed in random-sized chunks streams out byte-identical', async () => {
  const rand = mulberry32(1);
  const body = randomBytes(20 * MB, rand);
  const message = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
  const { head, framing, body: out } = await readResponse(sourceOf(split(message, rand, 200_000)));
  assert.equal(head.status, 200);
  assert.deepEqual(framing, { kind: 'length', length: body.length });
  assert.ok((await collect(out)).equals(body));
});

test('a 20 MB chunked body fed in random-sized chunks de-chunks byte-identical', async () => {
  const rand = mulberry32(2);
  const body = randomBytes(20 * MB, rand);
  const message = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), chunkEncode(body, rand, 100_000)]);
  const { framing, body: out } = await readResponse(sourceOf(split(message, rand, 150_000)));
  assert.deepEqual(framing, { kind: 'chunked' });
  assert.ok((await collect(out)).equals(body));
});

test('Content-Length body pieces are views of the source chunks, not copies', async () => {
  const chunk = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789');
  const { body } = await readResponse(sourceOf([chunk]));
  const [piece] = (await body.toArray()) as Buffer[];
  assert.equal(piece?.buffer, chunk.buffer);
});

for (const name of fixtureNames()) {
  test(`fixture ${name} streamed one byte at a time parses like the whole buffer`, async () => {
    const buf = fixture(name.slice(0, 3));
    const isRequest = name.includes('request');
    const whole = isRequest ? parseRequest(buf) : parseResponse(buf);
    const bytes = split(buf, () => 0, 1);
    const streamed = isRequest ? await readRequest(sourceOf(bytes)) : await readResponse(sourceOf(bytes));
    assert.deepEqual([...streamed.head.headers], [...whole.head.headers]);
    assert.deepEqual({ ...streamed.head, headers: null }, { ...whole.head, headers: null });
    assert.deepEqual(streamed.framing, whole.framing);
    assert.ok((await collect(streamed.body)).equals(whole.body));
  });
}

test('a message split in two at every byte boundary parses identically', async () => {
  const buf = parseRequest(fixture('05c')).body; // HTTP/0.0 error push, close-delimited
  const whole = parseResponse(buf);
  for (let i = 0; i <= buf.length; i++) {
    const { head, body } = await readResponse(sourceOf([buf.subarray(0, i), buf.subarray(i)]));
    assert.deepEqual([...head.headers], [...whole.head.headers], `split at ${i}`);
    assert.equal(head.status, 500);
    assert.ok((await collect(body)).equals(whole.body), `split at ${i}`);
  }
});

for (const kind of ['length', 'chunked'] as const) {
  test(`backpressure (${kind}): a 50 MB source is read only as fast as a slow consumer takes the body`, async () => {
    const total = 50 * MB;
    const piece = Buffer.alloc(64 * 1024, 0x61);
    let made = 0;
    const head =
      kind === 'length'
        ? `HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`
        : 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
    const { source, produced } = countingSource(Buffer.from(head), () => {
      if (made >= total) return made++ === total && kind === 'chunked' ? Buffer.from('0\r\n\r\n') : null;
      made += piece.length;
      return kind === 'length' ? piece : Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
    });
    const { body } = await readResponse(source);
    let consumed = 0;
    let maxAhead = 0;
    let writes = 0;
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, callback) {
        consumed += chunk.length;
        maxAhead = Math.max(maxAhead, produced() - consumed);
        // Every so often the consumer stalls for a while.
        if (++writes % 64 === 0) setTimeout(callback, 1);
        else setImmediate(callback);
      },
    });
    await pipeline(body, slow);
    assert.equal(consumed, total);
    assert.ok(maxAhead < 2 * MB, `source was read ${maxAhead} bytes ahead of the consumer`);
  });
}

test('a head that never ends is refused once it exceeds maxHeadBytes, without reading much further', async () => {
  const line = Buffer.from('X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n');
  const { source, produced } = countingSource(Buffer.from('HTTP/1.1 200 OK\r\n'), () => line);
  const limits: ParseLimits = { maxHeadBytes: 8 * 1024, maxHeaders: 100_000 };
  await assert.rejects(readResponse(source, limits), isWire(C.WIRE_HEAD_TOO_LARGE));
  assert.ok(produced() < 8 * 1024 + 64 * 1024, `read ${produced()} bytes`);
  source.destroy();
});

test('a start line that never ends is refused once it exceeds maxHeadBytes', async () => {
  const filler = Buffer.alloc(1000, 0x61);
  const { source, produced } = countingSource(Buffer.from('GET /'), () => filler);
  await assert.rejects(readRequest(source, { maxHeadBytes: 4096 }), isWire(C.WIRE_HEAD_TOO_LARGE));
  assert.ok(produced() < 4096 + 64 * 1024);
  source.destroy();
});

test('a garbage start line is refused as soon as it arrives, without waiting for the source to end', async () => {
  const source = new Readable({ read() {} });
  source.push(Buffer.from('this is not an http response'));
  await assert.rejects(readResponse(source), isWire(C.WIRE_MALFORMED_START_LINE));
  source.destroy();
});

test('a source that ends inside the head rejects with WIRE_TRUNCATED', async () => {
  await assert.rejects(readResponse(sourceOf([Buffer.from('HTTP/1.1 200 OK\r\nContent-')])), isWire(C.WIRE_TRUNCATED));
  await assert.rejects(readRequest(sourceOf([])), isWire(C.WIRE_TRUNCATED));
});

test('a source that ends inside a Content-Length body errors the body with WIRE_TRUNCATED', async () => {
  const { body } = await readResponse(sourceOf([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'), Buffer.from('01234')]));
  await assert.rejects(collect(body), isWire(C.WIRE_TRUNCATED));
});

test('a source that ends inside a chunked body errors the body with WIRE_TRUNCATED', async () => {
  const { body } = await readResponse(sourceOf([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n')]));
  await assert.rejects(collect(body), isWire(C.WIRE_TRUNCATED));
});

test('bytes after a Content-Length body error the body with WIRE_TRAILING_DATA', async () => {
  const { body } = await readResponse(sourceOf([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel'), Buffer.from('lo'), Buffer.from('X')]));
  await assert.rejects(collect(body), isWire(C.WIRE_TRAILING_DATA));
});

test('bytes after a chunked body in the same chunk as the head error the body, not the process', async () => {
  const { body } = await readResponse(sourceOf([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n')]));
  // The error is held until the body is read, so awaiting first cannot leave it unhandled.
  await new Promise((resolve) => setTimeout(resolve, 10));
  await assert.rejects(collect(body), isWire(C.WIRE_TRAILING_DATA));
});

test('invalid chunks error the body with WIRE_INVALID_CHUNK', async () => {
  const { body } = await readResponse(sourceOf([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), Buffer.from('5\r\nhelloXX')]));
  await assert.rejects(collect(body), isWire(C.WIRE_INVALID_CHUNK));
});

test('framing errors reject the head promise', async () => {
  const msg = 'POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n';
  await assert.rejects(readRequest(sourceOf([Buffer.from(msg)])), isWire(C.WIRE_AMBIGUOUS_LENGTH));
});

test('a declared Content-Length above maxBodyBytes rejects at head time', async () => {
  const source = sourceOf([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n')]);
  await assert.rejects(readResponse(source, { maxBodyBytes: 999 }), isWire(C.WIRE_BODY_TOO_LARGE));
});

test('a chunked body growing above maxBodyBytes errors the body with WIRE_BODY_TOO_LARGE', async () => {
  const rand = mulberry32(3);
  const wire = chunkEncode(Buffer.alloc(5000, 1), rand, 300);
  const { body } = await readResponse(sourceOf([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), wire]), { maxBodyBytes: 4000 });
  await assert.rejects(collect(body), isWire(C.WIRE_BODY_TOO_LARGE));
});

test('source errors during the head reject the promise; during the body they error the body', async () => {
  const boom = new Error('boom');
  const early = new Readable({ read() {} });
  const headPromise = readResponse(early);
  early.destroy(boom);
  await assert.rejects(headPromise, (err) => err === boom);

  const late = new Readable({ read() {} });
  late.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc'));
  const { body } = await readResponse(late);
  const reading = collect(body);
  setImmediate(() => late.destroy(boom));
  await assert.rejects(reading, (err) => err === boom);
});

test('a source closed before it ended truncates the body', async () => {
  const source = new Readable({ read() {} });
  source.push(Buffer.from('HTTP/1.1 200 OK\r\n\r\nabc'));
  const { framing, body } = await readResponse(source);
  assert.deepEqual(framing, { kind: 'close' });
  const reading = collect(body);
  setImmediate(() => source.destroy());
  await assert.rejects(reading, isWire(C.WIRE_TRUNCATED));
});

test('destroying the body destroys the source', async () => {
  const { source } = countingSource(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n'), () => Buffer.alloc(1024));
  const { body } = await readResponse(source);
  body.read();
  body.destroy();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(source.destroyed, true);
});

test('aborting the signal rejects a pending head and destroys the source', async () => {
  const source = new Readable({ read() {} });
  source.push(Buffer.from('HTTP/1.1 200 OK\r\n'));
  const controller = new AbortController();
  const pending = readResponse(source, undefined, { signal: controller.signal });
  setImmediate(() => controller.abort());
  await assert.rejects(pending, (err: unknown) => (err as Error).name === 'AbortError');
  assert.equal(source.destroyed, true);
});

test('aborting the signal errors a body being read and destroys the source', async () => {
  const source = new Readable({ read() {} });
  source.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc'));
  const controller = new AbortController();
  const { body } = await readResponse(source, undefined, { signal: controller.signal });
  const reading = collect(body);
  setImmediate(() => controller.abort());
  await assert.rejects(reading, (err: unknown) => (err as Error).name === 'AbortError');
  assert.equal(source.destroyed, true);
});

test('responses to HEAD stream no body even with a Content-Length', async () => {
  const { framing, body } = await readResponse(sourceOf([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n')]), undefined, {
    requestMethod: 'HEAD',
  });
  assert.deepEqual(framing, { kind: 'none' });
  assert.equal((await collect(body)).length, 0);
});
