import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeFrame,
  ERROR_CODES,
  FRAME,
  frameHeader,
  FrameReader,
  MAX_CONTROL_FRAME_BYTES,
  PushProxError,
  type FrameType,
} from '../src/index.js';

interface Seen {
  data: Buffer[];
  frames: Array<[FrameType, string]>;
}

function reader(accept: FrameType[] = [FRAME.REQUEST, FRAME.DATA, FRAME.END, FRAME.PING, FRAME.ERROR]): { r: FrameReader; seen: Seen } {
  const seen: Seen = { data: [], frames: [] };
  const r = new FrameReader(
    {
      // Payloads may share memory with the chunk: copy, as the handler contract says.
      onData: (b) => seen.data.push(Buffer.from(b)),
      onFrame: (t, p) => seen.frames.push([t, p.toString('latin1')]),
    },
    accept,
  );
  return { r, seen };
}

const stream = Buffer.concat([
  encodeFrame(FRAME.REQUEST, Buffer.from('GET http://a:9100/metrics HTTP/1.1\r\nId: 1\r\n\r\n')),
  encodeFrame(FRAME.PING),
  encodeFrame(FRAME.DATA, Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nup\n')),
  encodeFrame(FRAME.END),
  frameHeader(FRAME.DATA, 4),
  Buffer.from('more'),
  encodeFrame(FRAME.ERROR, Buffer.from('bye')),
]);

test('frame reader gives the same frames and DATA bytes however the stream is split', () => {
  const whole = reader();
  whole.r.push(stream);
  assert.deepEqual(
    whole.seen.frames.map(([t]) => t),
    [FRAME.REQUEST, FRAME.PING, FRAME.END, FRAME.ERROR],
  );
  assert.equal(Buffer.concat(whole.seen.data).toString(), 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nup\nmore');
  for (let cut = 1; cut < stream.length; cut++) {
    const split = reader();
    split.r.push(stream.subarray(0, cut));
    split.r.push(stream.subarray(cut));
    assert.deepEqual(split.seen.frames, whole.seen.frames, `split at ${cut}`);
    assert.deepEqual(Buffer.concat(split.seen.data), Buffer.concat(whole.seen.data), `split at ${cut}`);
  }
  const bytewise = reader();
  for (let i = 0; i < stream.length; i++) bytewise.r.push(stream.subarray(i, i + 1));
  assert.deepEqual(bytewise.seen.frames, whole.seen.frames);
  assert.deepEqual(Buffer.concat(bytewise.seen.data), Buffer.concat(whole.seen.data));
});

test('frame reader refuses a frame type its side does not accept, naming what it expected', () => {
  const { r, seen } = reader([FRAME.DATA, FRAME.END]);
  assert.throws(
    () => r.push(encodeFrame(FRAME.REQUEST, Buffer.from('x'))),
    (err: unknown) =>
      err instanceof PushProxError &&
      err.code === ERROR_CODES.CHANNEL_PROTOCOL &&
      /expected a frame of type DATA, END, got type REQUEST/.test(err.message),
  );
  // Input after a breach is ignored.
  r.push(encodeFrame(FRAME.END));
  assert.deepEqual(seen.frames, []);
});

test('frame reader refuses an unknown frame type and an oversized control frame before reading the payload', () => {
  assert.throws(() => reader().r.push(Buffer.from([99, 0, 0, 0, 0])), /got type 99/);
  assert.throws(
    () => reader().r.push(frameHeader(FRAME.REQUEST, MAX_CONTROL_FRAME_BYTES + 1)),
    new RegExp(`REQUEST frame of ${MAX_CONTROL_FRAME_BYTES + 1} bytes exceeds the limit of ${MAX_CONTROL_FRAME_BYTES} bytes`),
  );
});

test('frame reader stops after stop(): nothing more reaches the handler', () => {
  const { r, seen } = reader();
  r.push(encodeFrame(FRAME.PING));
  r.stop();
  r.push(encodeFrame(FRAME.PING));
  assert.equal(seen.frames.length, 1);
});
