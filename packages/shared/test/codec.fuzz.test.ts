/**
 * Bounded, reproducible fuzzing (fixed seed; at most MAX_CASES cases or
 * TIME_BUDGET_MS of wall time): random bytes and mutated fixtures.
 *
 * Properties:
 * - parsing either succeeds or throws WireError, nothing else;
 * - an accepted message is unambiguous: never both Content-Length and
 *   Transfer-Encoding, never differing Content-Lengths, and it re-serializes
 *   and re-parses to the same head, framing and body;
 * - the streaming parser settles on every input and agrees with the
 *   whole-buffer parser.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { WireError } from '../src/protocol/errors.js';
import {
  parseRequest,
  parseResponse,
  readRequest,
  readResponse,
  serializeRequestHead,
  serializeResponseHead,
  type BodyFraming,
  type RequestHead,
  type ResponseHead,
} from '../src/http/index.js';
import { fixture, fixtureNames } from '../src/testing/fixtures.js';
import { mulberry32 } from '../src/testing/random.js';

const SEED = 0x5eed;
const MAX_CASES = 20_000;
const TIME_BUDGET_MS = 10_000;
const STREAM_CASES = 300;
const STREAM_TIMEOUT_MS = 2_000;

type Kind = 'request' | 'response';
interface Case {
  readonly kind: Kind;
  readonly bytes: Buffer;
}
type Outcome = { ok: true; head: unknown; framing: BodyFraming; body: Buffer } | { ok: false; code: string };

const rand = mulberry32(SEED);
const int = (n: number): number => Math.floor(rand() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;

const INTERESTING = [0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x00, 0x3b, 0x2c, 0x30, 0x7f, 0xff, 0x22];
const HTTPISH = ['HTTP/1.1 ', 'HTTP/0.0 ', 'GET ', 'POST ', '/ ', 'http://h/ ', '200 OK', '\r\n', '\n', ': ', ';', '0\r\n\r\n', '5\r\nhello\r\n'];
const INJECTED_FIELDS = [
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: gzip, chunked',
  'Transfer-Encoding: chunked, chunked',
  'Content-Length: 0',
  'Content-Length: 5',
  'Content-Length: +5',
  'Content-Length: 5, 7',
  'Content-Length: 99999999999999999',
  'content-length: 3',
  'X-Folded: a\r\n b',
];

function corpus(): Case[] {
  const out: Case[] = [];
  for (const name of fixtureNames()) {
    const bytes = fixture(name.slice(0, 3));
    const kind: Kind = name.includes('request') ? 'request' : 'response';
    out.push({ kind, bytes });
    // The messages tunnelled inside bodies (/poll replies, /push requests).
    try {
      if (name.includes('poll-response')) out.push({ kind: 'request', bytes: parseResponse(bytes).body });
      if (name.includes('push-request') && !name.includes('malformed')) out.push({ kind: 'response', bytes: parseRequest(bytes).body });
    } catch {
      // The fixtures test reports unparsable fixtures.
    }
  }
  return out;
}

/** Offsets just past each CRLF inside the head (the end of each head line). */
function lineEnds(buf: Buffer): number[] {
  const headEnd = buf.indexOf('\r\n\r\n');
  const limit = headEnd < 0 ? buf.length : headEnd + 2;
  const ends: number[] = [];
  for (let i = buf.indexOf('\r\n'); i >= 0 && i < limit; i = buf.indexOf('\r\n', i + 2)) ends.push(i + 2);
  return ends;
}

function mutate(buf: Buffer): Buffer {
  const at = int(buf.length + 1);
  switch (int(8)) {
    case 0: {
      if (buf.length === 0) return buf;
      const copy = Buffer.from(buf);
      copy[int(buf.length)] = rand() < 0.5 ? pick(INTERESTING) : int(256);
      return copy;
    }
    case 1:
      return Buffer.concat([buf.subarray(0, at), Buffer.from([rand() < 0.5 ? pick(INTERESTING) : int(256)]), buf.subarray(at)]);
    case 2:
      return Buffer.concat([buf.subarray(0, at), buf.subarray(Math.min(buf.length, at + 1 + int(4)))]);
    case 3: {
      const ends = lineEnds(buf);
      if (ends.length < 2) return buf;
      const i = 1 + int(ends.length - 1);
      const line = buf.subarray(ends[i - 1]!, ends[i]!);
      return Buffer.concat([buf.subarray(0, ends[i]!), line, buf.subarray(ends[i]!)]);
    }
    case 4: {
      const ends = lineEnds(buf);
      if (ends.length === 0) return buf;
      const e = pick(ends);
      return Buffer.concat([buf.subarray(0, e - 2), Buffer.from('\n'), buf.subarray(e)]);
    }
    case 5: {
      const ends = lineEnds(buf);
      const e = ends.length === 0 ? 0 : pick(ends);
      return Buffer.concat([buf.subarray(0, e), Buffer.from(`${pick(INJECTED_FIELDS)}\r\n`, 'latin1'), buf.subarray(e)]);
    }
    case 6:
      return buf.subarray(0, at);
    default:
      return Buffer.concat([buf.subarray(0, at), Buffer.from(pick(HTTPISH), 'latin1'), buf.subarray(at)]);
  }
}

function randomCase(): Case {
  const kind: Kind = rand() < 0.5 ? 'request' : 'response';
  const parts: Buffer[] = [];
  const n = int(12);
  for (let i = 0; i < n; i++) {
    parts.push(rand() < 0.5 ? Buffer.from(pick(HTTPISH), 'latin1') : Buffer.from(Array.from({ length: int(8) }, () => int(256))));
  }
  return { kind, bytes: Buffer.concat(parts) };
}

function headShape(head: RequestHead | ResponseHead): unknown {
  const headers = [...head.headers];
  return 'method' in head
    ? { method: head.method, target: head.target, version: head.version, headers }
    : { status: head.status, reason: head.reason, version: head.version, headers };
}

function parseCase(c: Case): Outcome {
  try {
    const r = c.kind === 'request' ? parseRequest(c.bytes) : parseResponse(c.bytes);
    return { ok: true, head: r.head, framing: r.framing, body: r.body };
  } catch (err) {
    if (!(err instanceof WireError)) {
      throw new assert.AssertionError({ message: `non-WireError ${String(err)} for ${JSON.stringify(c.bytes.toString('latin1'))}` });
    }
    return { ok: false, code: err.code };
  }
}

/** The message rebuilt from its parsed parts; chunked bodies become a single chunk. */
function rebuild(kind: Kind, head: RequestHead | ResponseHead, framing: BodyFraming, body: Buffer): Buffer {
  const headBytes = kind === 'request' ? serializeRequestHead(head as RequestHead) : serializeResponseHead(head as ResponseHead);
  if (framing.kind === 'none') return headBytes;
  if (framing.kind !== 'chunked') return Buffer.concat([headBytes, body]);
  const chunk = body.length === 0 ? [] : [Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n')];
  return Buffer.concat([headBytes, ...chunk, Buffer.from('0\r\n\r\n')]);
}

function checkAccepted(c: Case, head: RequestHead | ResponseHead, framing: BodyFraming, body: Buffer): void {
  const cls = head.headers.getAll('content-length').flatMap((v) => v.split(',').map((s) => s.trim()));
  const where = JSON.stringify(c.bytes.toString('latin1').slice(0, 300));
  assert.ok(!(cls.length > 0 && head.headers.has('transfer-encoding')), `accepted both Content-Length and Transfer-Encoding: ${where}`);
  assert.ok(cls.every((v) => v === cls[0]), `accepted differing Content-Lengths: ${where}`);
  const again = parseCase({ kind: c.kind, bytes: rebuild(c.kind, head, framing, body) });
  assert.ok(again.ok, `re-serialized message was refused (${again.ok ? '' : again.code}): ${where}`);
  assert.deepEqual(headShape(again.head as RequestHead), headShape(head), where);
  assert.deepEqual(again.framing, framing, where);
  assert.ok(again.body.equals(body), `body changed on re-parse: ${where}`);
}

async function streamCase(c: Case): Promise<Outcome> {
  const pieces: Buffer[] = [];
  for (let pos = 0; pos < c.bytes.length; ) {
    const n = 1 + int(64);
    pieces.push(c.bytes.subarray(pos, pos + n));
    pos += n;
  }
  const source = Readable.from(pieces, { objectMode: false });
  try {
    const r = c.kind === 'request' ? await readRequest(source) : await readResponse(source);
    const parts: Buffer[] = [];
    for await (const part of r.body) parts.push(part as Buffer);
    return { ok: true, head: r.head, framing: r.framing, body: Buffer.concat(parts) };
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    return { ok: false, code: err.code };
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

test('fuzz: random and mutated messages are parsed unambiguously or refused with WireError', async (t) => {
  const seeds = corpus();
  assert.ok(seeds.length > 30);
  const started = Date.now();
  const outcomes = new Map<string, number>();
  const sampled: Array<{ c: Case; outcome: Outcome }> = [];
  let cases = 0;
  for (; cases < MAX_CASES && Date.now() - started < TIME_BUDGET_MS; cases++) {
    let c: Case;
    if (cases % 5 === 0) {
      c = randomCase();
    } else {
      const seed = pick(seeds);
      let bytes = seed.bytes;
      for (let m = 1 + int(3); m > 0; m--) bytes = mutate(bytes);
      c = { kind: seed.kind, bytes };
    }
    const outcome = parseCase(c);
    const key = outcome.ok ? 'accepted' : outcome.code;
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    if (outcome.ok) checkAccepted(c, outcome.head as RequestHead | ResponseHead, outcome.framing, outcome.body);
    if (cases % 37 === 0 && sampled.length < STREAM_CASES) sampled.push({ c, outcome });
  }

  for (const { c, outcome } of sampled) {
    const streamed = await withTimeout(streamCase(c), STREAM_TIMEOUT_MS, `streaming parse of ${JSON.stringify(c.bytes.toString('latin1').slice(0, 200))}`);
    const where = JSON.stringify(c.bytes.toString('latin1').slice(0, 300));
    assert.equal(streamed.ok, outcome.ok, `stream and buffer parsers disagree on ${where}`);
    if (streamed.ok && outcome.ok) {
      assert.deepEqual(headShape(streamed.head as RequestHead), headShape(outcome.head as RequestHead), where);
      assert.ok(streamed.body.equals(outcome.body), where);
    } else if (!streamed.ok && !outcome.ok) {
      assert.equal(streamed.code, outcome.code, where);
    }
  }

  const summary = [...outcomes.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k.replace('PUSHPROX_WIRE_', '')}=${n}`);
  t.diagnostic(`fuzz: ${cases} cases in ${Date.now() - started} ms (seed ${SEED}); ${summary.join(' ')}`);
  t.diagnostic(`fuzz: ${sampled.length} cases also streamed`);
  assert.ok((outcomes.get('accepted') ?? 0) > 0, 'no mutated message was accepted: the fuzzer is not exercising acceptance');
});
