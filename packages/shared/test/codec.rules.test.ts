/**
 * One test per parsing or serialization rule. The rejection rules are what
 * keeps the codec from being used for request smuggling or header injection.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { ERROR_CODES, WireError, type ErrorCode } from '../src/protocol/errors.js';
import {
  WireHeaders,
  createChunkedEncoder,
  formatHttpVersion,
  isAbsoluteForm,
  isFieldValue,
  isToken,
  parseHttpVersion,
  parseRequest,
  parseResponse,
  serializeRequestHead,
  serializeResponseHead,
  type ParseLimits,
  type RequestHead,
  type ResponseHead,
} from '../src/http/index.js';

const C = ERROR_CODES;
const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
const req = (s: string, limits?: ParseLimits) => parseRequest(bytes(s), limits);
const res = (s: string, limits?: ParseLimits, requestMethod?: string) => parseResponse(bytes(s), limits, { requestMethod });

function throwsWire(fn: () => unknown, code: ErrorCode, messagePart?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WireError, `expected a WireError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (messagePart !== undefined) assert.ok(err.message.includes(messagePart), err.message);
    return true;
  });
}

const reqHead = (over: Partial<RequestHead> = {}): RequestHead => ({
  method: 'GET',
  target: 'http://127.0.0.1:9101/metrics',
  version: { major: 1, minor: 1 },
  headers: new WireHeaders([['Host', '127.0.0.1:9101']]),
  ...over,
});
const resHead = (over: Partial<ResponseHead> = {}): ResponseHead => ({
  version: { major: 1, minor: 1 },
  status: 200,
  reason: 'OK',
  headers: new WireHeaders(),
  ...over,
});

// --- start lines -----------------------------------------------------------

test('request line needs exactly single spaces between method, target and version', () => {
  throwsWire(() => req('GET  / HTTP/1.1\r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => req('GET / HTTP/1.1 \r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => req('GET /\r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => req(' GET / HTTP/1.1\r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
});

test('request method must be a token and the target free of controls', () => {
  throwsWire(() => req('G(T / HTTP/1.1\r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => req('GET /a\x01b HTTP/1.1\r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => req('GET /a\x7fb HTTP/1.1\r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
});

test('version must be HTTP/d.d, but any single digits are accepted', () => {
  throwsWire(() => req('GET / http/1.1\r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => req('GET / HTTP/1.10\r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => res('HTTP/1 200 OK\r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
  assert.deepEqual(res('HTTP/0.0 500 Internal Server Error\r\n\r\nx').head.version, { major: 0, minor: 0 });
  assert.deepEqual(req('GET / HTTP/9.9\r\n\r\n').head.version, { major: 9, minor: 9 });
});

test('status must be 3 digits from 100; the reason may be empty or missing', () => {
  throwsWire(() => res('HTTP/1.1 20 OK\r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => res('HTTP/1.1 2000 OK\r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => res('HTTP/1.1 099 OK\r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => res('HTTP/1.1 abc OK\r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => res('HTTP/1.1  200 OK\r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
  assert.equal(res('HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n').head.reason, '');
  assert.equal(res('HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n').head.reason, '');
  assert.equal(res('HTTP/1.1 299 Fine, thanks \r\nContent-Length: 0\r\n\r\n').head.reason, 'Fine, thanks ');
});

test('reason phrase may not contain control characters', () => {
  throwsWire(() => res('HTTP/1.1 200 O\x00K\r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
});

test('leading empty lines before the start line are refused', () => {
  throwsWire(() => req('\r\nGET / HTTP/1.1\r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
});

test('malformed start line errors say what was expected and quote what arrived, JSON-escaped and truncated', () => {
  const long = `bogus\t"quoted"${'x'.repeat(100)}`;
  assert.throws(
    () => res(long),
    (err: unknown) =>
      err instanceof WireError &&
      err.code === C.WIRE_MALFORMED_START_LINE &&
      err.message.includes('HTTP/d.d') &&
      err.message.includes(JSON.stringify(long.slice(0, 40))) &&
      !err.message.includes('x'.repeat(60)),
  );
});

test('a bad start line is refused from its first bytes, even without a line end', () => {
  throwsWire(() => res('nope'), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => req('GET /\x00'), C.WIRE_MALFORMED_START_LINE);
});

// --- line endings, header fields --------------------------------------------

test('bare LF ends no line: refused in the start line and in headers', () => {
  throwsWire(() => req('GET / HTTP/1.1\n\r\n'), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => req('GET / HTTP/1.1\r\nHost: a\n\r\n'), C.WIRE_INVALID_HEADER);
  throwsWire(() => req('GET / HTTP/1.1\r\nHost: a\r\n\n'), C.WIRE_INVALID_HEADER);
});

test('bare CR is refused in the start line and in header values', () => {
  throwsWire(() => req('GET /\r HTTP/1.1\r\n\r\n'), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => req('GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n'), C.WIRE_INVALID_HEADER);
  throwsWire(() => req('GET / HTTP/1.1\r\nHost: a\r\r\n\r\n'), C.WIRE_INVALID_HEADER);
});

test('obs-fold continuation lines are refused', () => {
  throwsWire(() => req('GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n'), C.WIRE_INVALID_HEADER, 'folding');
  throwsWire(() => req('GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n'), C.WIRE_INVALID_HEADER, 'folding');
});

test('whitespace between field name and colon is refused', () => {
  throwsWire(() => req('GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello'), C.WIRE_INVALID_HEADER, 'before the colon');
  throwsWire(() => req('GET / HTTP/1.1\r\nContent-Length\t: 5\r\n\r\nhello'), C.WIRE_INVALID_HEADER);
});

test('field names must be non-empty tokens and lines must have a colon', () => {
  throwsWire(() => req('GET / HTTP/1.1\r\n: x\r\n\r\n'), C.WIRE_INVALID_HEADER);
  throwsWire(() => req('GET / HTTP/1.1\r\nX(y): x\r\n\r\n'), C.WIRE_INVALID_HEADER);
  throwsWire(() => req('GET / HTTP/1.1\r\nno colon here\r\n\r\n'), C.WIRE_INVALID_HEADER);
});

test('NUL and other control characters in values are refused; HTAB and obs-text are kept', () => {
  throwsWire(() => req('GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n'), C.WIRE_INVALID_HEADER);
  throwsWire(() => req('GET / HTTP/1.1\r\nX-A: a\x01b\r\n\r\n'), C.WIRE_INVALID_HEADER);
  throwsWire(() => req('GET / HTTP/1.1\r\nX-A: a\x7fb\r\n\r\n'), C.WIRE_INVALID_HEADER);
  assert.equal(req('GET / HTTP/1.1\r\nX-A: a\tb\xe9\r\n\r\n').head.headers.get('x-a'), 'a\tb\xe9');
});

test('values lose surrounding OWS, keep inner spaces, and may be empty', () => {
  const { head } = req('GET / HTTP/1.1\r\nX-A: \t a  b \t\r\nX-Empty:\r\nX-Blank:   \r\n\r\n');
  assert.deepEqual([...head.headers], [['X-A', 'a  b'], ['X-Empty', ''], ['X-Blank', '']]);
});

test('a head longer than maxHeadBytes is refused', () => {
  const msg = `GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(200)}\r\n\r\n`;
  throwsWire(() => req(msg, { maxHeadBytes: 100 }), C.WIRE_HEAD_TOO_LARGE);
  assert.equal(req(msg, { maxHeadBytes: msg.length }).head.headers.get('X-Big')?.length, 200);
  throwsWire(() => req(msg, { maxHeadBytes: msg.length - 1 }), C.WIRE_HEAD_TOO_LARGE);
  throwsWire(() => req(`GET /${'a'.repeat(70_000)} HTTP/1.1\r\n\r\n`), C.WIRE_HEAD_TOO_LARGE);
});

test('more header fields than maxHeaders is refused (default 256)', () => {
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: v\r\n`).join('');
  throwsWire(() => req(`GET / HTTP/1.1\r\n${lines(4)}\r\n`, { maxHeaders: 3 }), C.WIRE_HEAD_TOO_LARGE);
  assert.equal(req(`GET / HTTP/1.1\r\n${lines(3)}\r\n`, { maxHeaders: 3 }).head.headers.size, 3);
  assert.equal(req(`GET / HTTP/1.1\r\n${lines(256)}\r\n`).head.headers.size, 256);
  throwsWire(() => req(`GET / HTTP/1.1\r\n${lines(257)}\r\n`), C.WIRE_HEAD_TOO_LARGE);
});

test('a message that ends inside its head is truncated', () => {
  throwsWire(() => req(''), C.WIRE_TRUNCATED);
  throwsWire(() => req('GET / HTTP/1.1\r\nHost: a\r\n'), C.WIRE_TRUNCATED);
  throwsWire(() => res('HTTP/1.1 200 OK\r'), C.WIRE_TRUNCATED);
});

// --- framing ------------------------------------------------------------------

test('Content-Length together with Transfer-Encoding is ambiguous', () => {
  throwsWire(() => req('POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'), C.WIRE_AMBIGUOUS_LENGTH);
  throwsWire(() => res('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n'), C.WIRE_AMBIGUOUS_LENGTH);
  // Even where the body length is fixed by the status, the conflict is not accepted.
  throwsWire(() => res('HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n'), C.WIRE_AMBIGUOUS_LENGTH);
});

test('differing Content-Length values are ambiguous; identical repeats are accepted', () => {
  throwsWire(() => req('POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello'), C.WIRE_AMBIGUOUS_LENGTH);
  throwsWire(() => req('POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nhello'), C.WIRE_AMBIGUOUS_LENGTH);
  throwsWire(() => req('POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\nhello'), C.WIRE_AMBIGUOUS_LENGTH);
  assert.equal(req('POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello').body.toString(), 'hello');
  assert.equal(req('POST / HTTP/1.1\r\nContent-Length: 5 , 5\r\n\r\nhello').body.toString(), 'hello');
});

test('Content-Length must be 1 to 15 plain digits', () => {
  for (const value of ['+5', '-1', '1 2', '', '0x5', '5,', ',5', '5.0', '1234567890123456', '\u0665']) {
    throwsWire(() => req(`POST / HTTP/1.1\r\nContent-Length: ${value}\r\n\r\n`), C.WIRE_AMBIGUOUS_LENGTH);
  }
  assert.deepEqual(req('POST / HTTP/1.1\r\nContent-Length: 000\r\n\r\n').framing, { kind: 'length', length: 0 });
});

test('Transfer-Encoding must be exactly one "chunked" (case-insensitive)', () => {
  const chunked = (te: string) => `POST / HTTP/1.1\r\nTransfer-Encoding: ${te}\r\n\r\n0\r\n\r\n`;
  for (const te of ['gzip', 'gzip, chunked', 'chunked, gzip', 'chunked, chunked', 'chunked;q=1', 'chunked,', 'identity']) {
    throwsWire(() => req(chunked(te)), C.WIRE_AMBIGUOUS_LENGTH);
  }
  throwsWire(() => req('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'), C.WIRE_AMBIGUOUS_LENGTH);
  throwsWire(() => res('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxyz'), C.WIRE_AMBIGUOUS_LENGTH);
  assert.deepEqual(req(chunked('Chunked')).framing, { kind: 'chunked' });
});

test('Transfer-Encoding in an HTTP/1.0 or older message is refused', () => {
  throwsWire(() => req('POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'), C.WIRE_AMBIGUOUS_LENGTH);
  throwsWire(() => res('HTTP/0.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'), C.WIRE_AMBIGUOUS_LENGTH);
});

test('requests without Content-Length or Transfer-Encoding have no body', () => {
  const r = req('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.deepEqual(r.framing, { kind: 'none' });
  assert.equal(r.body.length, 0);
});

test('responses without Content-Length or Transfer-Encoding run to the end of input', () => {
  const r = res('HTTP/1.1 200 OK\r\n\r\nall\r\nof this\r\n\r\n');
  assert.deepEqual(r.framing, { kind: 'close' });
  assert.equal(r.body.toString(), 'all\r\nof this\r\n\r\n');
});

test('responses to HEAD and 1xx/204/304 responses have no body whatever their headers say', () => {
  assert.deepEqual(res('HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n', undefined, 'HEAD').framing, { kind: 'none' });
  assert.deepEqual(res('HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n').framing, { kind: 'none' });
  assert.deepEqual(res('HTTP/1.1 204 No Content\r\n\r\n').framing, { kind: 'none' });
  assert.deepEqual(res('HTTP/1.1 100 Continue\r\n\r\n').framing, { kind: 'none' });
  // Methods are case-sensitive: `head` is not HEAD.
  assert.deepEqual(res('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', undefined, 'head').framing, { kind: 'length', length: 0 });
});

// --- bodies -------------------------------------------------------------------

const CHUNKED_HEAD = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';

test('chunked bodies are de-chunked; extensions and trailers are accepted and dropped', () => {
  const r = res(`${CHUNKED_HEAD}5;name=value;flag\r\nhello\r\n1 ; q="a \\" b"\r\n!\r\n000\r\nX-Trailer: t\r\n\r\n`);
  assert.equal(r.body.toString(), 'hello!');
  assert.equal(r.head.headers.has('X-Trailer'), false);
  assert.equal(res(`${CHUNKED_HEAD}000000000000005\r\nhello\r\n0\r\n\r\n`).body.toString(), 'hello');
});

test('chunk size must be hex digits', () => {
  for (const size of ['zz', '-5', ' 5', '5 ', '0x5', '', '+5']) {
    throwsWire(() => res(`${CHUNKED_HEAD}${size}\r\nhello\r\n0\r\n\r\n`), C.WIRE_INVALID_CHUNK);
  }
});

test('chunk size of more than 15 hex digits is refused', () => {
  throwsWire(() => res(`${CHUNKED_HEAD}0000000000000005\r\nhello\r\n0\r\n\r\n`), C.WIRE_INVALID_CHUNK, '15 hex digits');
  throwsWire(() => res(`${CHUNKED_HEAD}fffffffffffffff\r\nhello\r\n0\r\n\r\n`), C.WIRE_INVALID_CHUNK);
});

test('chunk extensions with control characters or bad syntax are refused', () => {
  for (const ext of [';a\x00', ';', ';=v', ';a=', ';a="unterminated', ';a=b c']) {
    throwsWire(() => res(`${CHUNKED_HEAD}5${ext}\r\nhello\r\n0\r\n\r\n`), C.WIRE_INVALID_CHUNK);
  }
  throwsWire(() => res(`${CHUNKED_HEAD}5;${'a'.repeat(5000)}\r\nhello\r\n0\r\n\r\n`), C.WIRE_INVALID_CHUNK);
});

test('chunk data must be followed by exactly CRLF', () => {
  throwsWire(() => res(`${CHUNKED_HEAD}5\r\nhelloX\r\n0\r\n\r\n`), C.WIRE_INVALID_CHUNK);
  throwsWire(() => res(`${CHUNKED_HEAD}5\r\nhello\n0\r\n\r\n`), C.WIRE_INVALID_CHUNK);
  throwsWire(() => res(`${CHUNKED_HEAD}5\r\nhello\r\r\n0\r\n\r\n`), C.WIRE_INVALID_CHUNK);
});

test('chunk-size lines ending in a bare LF are refused', () => {
  throwsWire(() => res(`${CHUNKED_HEAD}5\nhello\r\n0\r\n\r\n`), C.WIRE_INVALID_CHUNK);
});

test('trailer fields are validated like headers', () => {
  throwsWire(() => res(`${CHUNKED_HEAD}0\r\nBad Name: x\r\n\r\n`), C.WIRE_INVALID_HEADER);
  throwsWire(() => res(`${CHUNKED_HEAD}0\r\nX: a\x00\r\n\r\n`), C.WIRE_INVALID_HEADER);
  throwsWire(() => res(`${CHUNKED_HEAD}0\r\nX: a\r\n folded\r\n\r\n`), C.WIRE_INVALID_HEADER);
});

test('a Content-Length body shorter than declared is truncated', () => {
  throwsWire(() => req('POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nhello'), C.WIRE_TRUNCATED, '5 bytes short');
});

test('a chunked body without its last chunk is truncated', () => {
  throwsWire(() => res(`${CHUNKED_HEAD}5\r\nhel`), C.WIRE_TRUNCATED);
  throwsWire(() => res(`${CHUNKED_HEAD}5\r\nhello\r\n`), C.WIRE_TRUNCATED);
  throwsWire(() => res(`${CHUNKED_HEAD}5\r\nhello\r\n0\r\n`), C.WIRE_TRUNCATED);
  throwsWire(() => res(`${CHUNKED_HEAD}5\r\nhello\r\n0\r\nX: y\r\n`), C.WIRE_TRUNCATED);
});

test('bytes after a Content-Length, chunked or empty body are trailing data', () => {
  throwsWire(() => req('POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n'), C.WIRE_TRAILING_DATA);
  throwsWire(() => res(`${CHUNKED_HEAD}5\r\nhello\r\n0\r\n\r\nX`), C.WIRE_TRAILING_DATA);
  throwsWire(() => req('GET / HTTP/1.1\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n'), C.WIRE_TRAILING_DATA);
  throwsWire(() => res('HTTP/1.1 204 No Content\r\n\r\n\r\n'), C.WIRE_TRAILING_DATA);
});

test('a declared Content-Length above maxBodyBytes is refused before reading the body', () => {
  throwsWire(() => req('POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n', { maxBodyBytes: 10 }), C.WIRE_BODY_TOO_LARGE);
  assert.equal(req('POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789', { maxBodyBytes: 10 }).body.length, 10);
});

test('chunked and close-delimited bodies above maxBodyBytes are refused', () => {
  throwsWire(() => res(`${CHUNKED_HEAD}5\r\nhello\r\n6\r\nhello!\r\n0\r\n\r\n`, { maxBodyBytes: 10 }), C.WIRE_BODY_TOO_LARGE);
  assert.equal(res(`${CHUNKED_HEAD}5\r\nhello\r\n5\r\nhello\r\n0\r\n\r\n`, { maxBodyBytes: 10 }).body.length, 10);
  throwsWire(() => res('HTTP/0.0 500 Internal Server Error\r\n\r\n01234567890', { maxBodyBytes: 10 }), C.WIRE_BODY_TOO_LARGE);
});

// --- serializer ---------------------------------------------------------------

test('serialized heads keep header order and spelling', () => {
  const head = reqHead({ headers: new WireHeaders([['Host', 'h'], ['x-lower', 'a'], ['X-Empty', ''], ['x-lower', 'b']]) });
  assert.equal(
    serializeRequestHead(head).toString('latin1'),
    'GET http://127.0.0.1:9101/metrics HTTP/1.1\r\nHost: h\r\nx-lower: a\r\nX-Empty: \r\nx-lower: b\r\n\r\n',
  );
  assert.equal(
    serializeResponseHead(resHead({ version: { major: 0, minor: 0 }, status: 500, reason: 'Internal Server Error' })).toString('latin1'),
    'HTTP/0.0 500 Internal Server Error\r\n\r\n',
  );
  assert.equal(serializeResponseHead(resHead({ reason: '' })).toString('latin1'), 'HTTP/1.1 200 \r\n\r\n');
});

test('serializer refuses CR/LF injection through header names and values', () => {
  const inject = (name: string, value: string) => () => serializeRequestHead(reqHead({ headers: new WireHeaders([[name, value]]) }));
  throwsWire(inject('X-A', 'a\r\nInjected: yes'), C.WIRE_INVALID_HEADER);
  throwsWire(inject('X-A', 'a\nb'), C.WIRE_INVALID_HEADER);
  throwsWire(inject('X-A', 'a\rb'), C.WIRE_INVALID_HEADER);
  throwsWire(inject('X-A\r\nInjected', 'yes'), C.WIRE_INVALID_HEADER);
  throwsWire(inject('X A', 'b'), C.WIRE_INVALID_HEADER);
  throwsWire(inject('', 'b'), C.WIRE_INVALID_HEADER);
  throwsWire(() => serializeResponseHead(resHead({ headers: new WireHeaders([['Id', 'x\r\n\r\nbody']]) })), C.WIRE_INVALID_HEADER);
});

test('serializer refuses NUL, other controls, non-latin1 chars and surrounding whitespace in values', () => {
  const value = (v: string) => () => serializeRequestHead(reqHead({ headers: new WireHeaders([['X-A', v]]) }));
  throwsWire(value('a\x00b'), C.WIRE_INVALID_HEADER);
  throwsWire(value('a\x1bb'), C.WIRE_INVALID_HEADER);
  throwsWire(value('\u20ac'), C.WIRE_INVALID_HEADER);
  throwsWire(value(' a'), C.WIRE_INVALID_HEADER);
  throwsWire(value('a\t'), C.WIRE_INVALID_HEADER);
});

test('serializer refuses injection through targets (e.g. an FQDN), methods and reasons', () => {
  throwsWire(() => serializeRequestHead(reqHead({ target: 'http://evil\r\nX-Injected: 1/metrics' })), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => serializeRequestHead(reqHead({ target: 'http://a b/' })), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => serializeRequestHead(reqHead({ target: '' })), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => serializeRequestHead(reqHead({ method: 'GET /x HTTP/1.1\r\n' })), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => serializeResponseHead(resHead({ reason: 'OK\r\nX: y' })), C.WIRE_MALFORMED_START_LINE);
});

test('serializer refuses statuses outside 100-999 and versions that are not single digits', () => {
  for (const status of [99, 1000, 200.5, Number.NaN]) throwsWire(() => serializeResponseHead(resHead({ status })), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => serializeResponseHead(resHead({ version: { major: 1, minor: 10 } })), C.WIRE_MALFORMED_START_LINE);
  throwsWire(() => serializeRequestHead(reqHead({ version: { major: -1, minor: 0 } })), C.WIRE_MALFORMED_START_LINE);
});

test('chunked encoder writes one chunk per non-empty input and the last chunk at the end', async () => {
  const parts: Buffer[] = [];
  const encoder = Readable.from([bytes('hello'), Buffer.alloc(0), bytes('x'.repeat(26))]).pipe(createChunkedEncoder());
  for await (const part of encoder) parts.push(part as Buffer);
  const wire = Buffer.concat(parts).toString('latin1');
  assert.equal(wire, `5\r\nhello\r\n1a\r\n${'x'.repeat(26)}\r\n0\r\n\r\n`);
  assert.equal(res(CHUNKED_HEAD + wire).body.toString(), `hello${'x'.repeat(26)}`);
});

// --- syntax helpers -------------------------------------------------------------

test('syntax helpers follow RFC 9110 tokens and field values', () => {
  assert.ok(isToken("!#$%&'*+-.^_`|~09AZaz"));
  for (const bad of ['', 'a b', 'a:b', 'a"b', 'a\x7f', '\u00e9', 'a(b']) assert.equal(isToken(bad), false, bad);
  assert.ok(isFieldValue(''));
  assert.ok(isFieldValue('a\tb c\x80\xff'));
  for (const bad of ['\r', '\n', '\x00', '\x1f', '\x7f', '\u0100']) assert.equal(isFieldValue(bad), false, JSON.stringify(bad));
});

test('isAbsoluteForm recognises targets with a scheme and host only', () => {
  assert.ok(isAbsoluteForm('http://127.0.0.1:9101/metrics'));
  assert.ok(isAbsoluteForm('https://host/metrics?_scheme=https'));
  for (const t of ['/metrics', '*', '127.0.0.1:9101', 'localhost:9100', 'http:///path', 'http:/x', '//host/x']) {
    assert.equal(isAbsoluteForm(t), false, t);
  }
});

test('HTTP versions format and parse as HTTP/d.d', () => {
  assert.equal(formatHttpVersion({ major: 1, minor: 1 }), 'HTTP/1.1');
  assert.deepEqual(parseHttpVersion('HTTP/0.0'), { major: 0, minor: 0 });
  for (const bad of ['HTTP/1.10', 'HTTP/1', 'http/1.1', 'HTTP/1.1 ', 'HTTP/a.b']) assert.equal(parseHttpVersion(bad), undefined, bad);
});
