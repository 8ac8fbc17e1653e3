/**
 * The codec against the real upstream captures: every fixture parses with the
 * right parser, means what the README says, and round-trips through the
 * serializer.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { ERROR_CODES, WireError } from '../src/protocol/errors.js';
import {
  createChunkedEncoder,
  isAbsoluteForm,
  parseRequest,
  parseResponse,
  serializeRequestHead,
  serializeResponseHead,
  type BodyFraming,
  type RequestHead,
  type ResponseHead,
} from '../src/http/index.js';
import { fixture, fixtureNames } from '../src/testing/fixtures.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function isRequestFixture(name: string): boolean {
  return name.includes('request');
}

type Head = RequestHead | ResponseHead;

/** A plain, comparable picture of a head. */
function shape(head: Head): unknown {
  const headers = [...head.headers];
  return 'method' in head
    ? { method: head.method, target: head.target, version: head.version, headers }
    : { status: head.status, reason: head.reason, version: head.version, headers };
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** The body framed again as `framing` says; chunked bodies become one chunk. */
async function frame(framing: BodyFraming, body: Buffer): Promise<Buffer> {
  if (framing.kind === 'none') return Buffer.alloc(0);
  if (framing.kind !== 'chunked') return body;
  return collect(Readable.from([body]).pipe(createChunkedEncoder()));
}

function parseFixture(name: string): { head: Head; framing: BodyFraming; body: Buffer } {
  const buf = fixture(name.slice(0, 3));
  return isRequestFixture(name) ? parseRequest(buf) : parseResponse(buf);
}

/** The message inside the body of a /poll reply (a request) or a /push (a response). */
function innerRequest(prefix: string) {
  return parseRequest(parseResponse(fixture(prefix)).body);
}
function innerResponse(prefix: string) {
  return parseResponse(parseRequest(fixture(prefix)).body);
}

test('there are fixtures of both kinds to test against', () => {
  const names = fixtureNames();
  assert.ok(names.length >= 30, `only ${names.length} fixtures in the fixtures directory`);
  assert.ok(names.some(isRequestFixture));
  assert.ok(names.some((n) => !isRequestFixture(n)));
});

for (const name of fixtureNames()) {
  test(`fixture ${name} parses and round-trips through the serializer`, async () => {
    const original = fixture(name.slice(0, 3));
    const parsed = parseFixture(name);
    const head = isRequestFixture(name) ? serializeRequestHead(parsed.head as RequestHead) : serializeResponseHead(parsed.head as ResponseHead);
    const rebuilt = Buffer.concat([head, await frame(parsed.framing, parsed.body)]);
    const again = isRequestFixture(name) ? parseRequest(rebuilt) : parseResponse(rebuilt);
    assert.deepEqual(shape(again.head), shape(parsed.head));
    assert.deepEqual(again.framing, parsed.framing);
    assert.ok(again.body.equals(parsed.body), 'body changed in the round trip');
    // Heads are reproduced byte for byte; so is everything not re-chunked.
    assert.ok(original.subarray(0, head.length).equals(head), 'serialized head differs from the captured bytes');
    if (parsed.framing.kind !== 'chunked') assert.ok(rebuilt.equals(original), 'serialized message differs from the captured bytes');
  });
}

test('01a: a Prometheus scrape through the proxy is absolute-form with a timeout header', () => {
  const { head, framing, body } = parseRequest(fixture('01a'));
  assert.equal(head.method, 'GET');
  assert.equal(head.target, 'http://127.0.0.1:9101/metrics');
  assert.deepEqual(head.version, { major: 1, minor: 1 });
  assert.ok(isAbsoluteForm(head.target));
  assert.equal(head.headers.get('x-prometheus-scrape-timeout-seconds'), '10');
  assert.equal(head.headers.get('Accept-Encoding'), 'gzip');
  assert.deepEqual(framing, { kind: 'none' });
  assert.equal(body.length, 0);
});

test('02: the poll body is the bare FQDN and the empty Content-Type value is kept', () => {
  const { head, framing, body } = parseRequest(fixture('02'));
  assert.equal(head.method, 'POST');
  assert.equal(head.target, '/poll');
  assert.ok(!isAbsoluteForm(head.target));
  assert.equal(head.headers.has('Content-Type'), true);
  assert.equal(head.headers.get('Content-Type'), '');
  assert.deepEqual(framing, { kind: 'length', length: 9 });
  assert.equal(body.toString('latin1'), '127.0.0.1');
});

test('03a: the poll reply body is the scrape request in absolute form, with Id and timeout', () => {
  const outer = parseResponse(fixture('03a'));
  assert.equal(outer.head.status, 200);
  assert.equal(outer.head.headers.get('Content-Type'), 'text/plain; charset=utf-8');
  const { head, framing } = innerRequest('03a');
  assert.equal(head.method, 'GET');
  assert.equal(head.target, 'http://127.0.0.1:9101/metrics');
  assert.deepEqual([...head.headers][0], ['Host', '127.0.0.1:9101']);
  assert.match(head.headers.get('Id') ?? '', UUID);
  assert.equal(head.headers.get('X-Prometheus-Scrape-Timeout-Seconds'), '10');
  assert.deepEqual(framing, { kind: 'none' });
});

test('03c: the proxy does not synthesise a timeout header it never received', () => {
  const { head } = innerRequest('03c');
  assert.equal(head.target, 'http://127.0.0.1:9101/metrics');
  assert.match(head.headers.get('Id') ?? '', UUID);
  assert.equal(head.headers.has('X-Prometheus-Scrape-Timeout-Seconds'), false);
});

test('04a: the client scrapes the target in origin form, forwarding Id and timeout', () => {
  const { head } = parseRequest(fixture('04a'));
  assert.equal(head.target, '/metrics');
  assert.equal(isAbsoluteForm(head.target), false);
  assert.ok(head.headers.has('Id'));
  assert.ok(head.headers.has('X-Prometheus-Scrape-Timeout-Seconds'));
});

test('04b: the exporter reply is chunked gzip that de-chunks into a valid gzip stream', () => {
  const { head, framing, body } = parseResponse(fixture('04b'));
  assert.equal(head.headers.get('Content-Encoding'), 'gzip');
  assert.deepEqual(framing, { kind: 'chunked' });
  assert.match(gunzipSync(body).toString('utf8'), /^node_\w+/m);
});

test('05a: a Content-Length push carries the exporter response with its 118-byte body', () => {
  const outer = parseRequest(fixture('05a'));
  assert.equal(outer.head.target, '/push');
  assert.equal(outer.head.headers.has('Content-Type'), false);
  const { head, framing, body } = innerResponse('05a');
  assert.equal(head.status, 200);
  assert.equal(head.reason, 'OK');
  assert.equal(head.headers.get('Content-Length'), '118');
  assert.deepEqual(framing, { kind: 'length', length: 118 });
  assert.equal(body.length, 118);
  assert.ok(body.toString('utf8').startsWith('# HELP demo_static_metric'));
  assert.equal(head.headers.get('X-Prometheus-Scrape-Timeout'), '9.994496');
  assert.match(head.headers.get('Id') ?? '', UUID);
});

test('05b: a chunked inner response inside a Content-Length push de-chunks to gzip of node metrics', () => {
  const outer = parseRequest(fixture('05b'));
  assert.deepEqual(outer.framing, { kind: 'length', length: 9743 });
  const { head, framing, body } = innerResponse('05b');
  assert.deepEqual([...head.headers][0], ['Transfer-Encoding', 'chunked']);
  assert.deepEqual(framing, { kind: 'chunked' });
  assert.equal(body.length, 0x250d);
  const text = gunzipSync(body).toString('utf8');
  assert.ok(text.includes('node_exporter_build_info'));
});

test('05c: upstream error pushes are HTTP/0.0 500, close-delimited to the end of the push body', () => {
  const { head, framing, body } = innerResponse('05c');
  assert.deepEqual(head.version, { major: 0, minor: 0 });
  assert.equal(head.status, 500);
  assert.equal(head.reason, 'Internal Server Error');
  assert.deepEqual(framing, { kind: 'close' });
  assert.equal(head.headers.get('X-Prometheus-Scrape-Timeout'), '-9223372036.854776');
  assert.equal(body.toString('utf8'), 'strconv.ParseFloat: parsing "": invalid syntax');
});

test('05d: the connection-refused error push body is read to the end of the push body', () => {
  const { head, framing, body } = innerResponse('05d');
  assert.deepEqual(head.version, { major: 0, minor: 0 });
  assert.equal(head.status, 500);
  assert.deepEqual(framing, { kind: 'close' });
  assert.equal(
    body.toString('utf8'),
    'failed to scrape http://127.0.0.1:9199/metrics: Get "http://127.0.0.1:9199/metrics": dial tcp 127.0.0.1:9199: connect: connection refused',
  );
});

test('06: the push acknowledgement has Content-Length 0 and an empty body', () => {
  const { head, framing, body } = parseResponse(fixture('06'));
  assert.equal(head.status, 200);
  assert.deepEqual(framing, { kind: 'length', length: 0 });
  assert.equal(body.length, 0);
  assert.equal(head.headers.has('Content-Type'), false);
});

test('07a/07b: the scrape reply relays the pushed body unchanged (gzip passed through)', () => {
  const a = parseResponse(fixture('07a'));
  assert.ok(a.body.equals(innerResponse('05a').body));
  assert.equal(a.head.headers.get('X-Prometheus-Scrape-Timeout'), '9.994496');
  assert.equal(a.head.headers.has('Id'), false);
  const b = parseResponse(fixture('07b'));
  assert.deepEqual(b.framing, { kind: 'chunked' });
  assert.ok(b.body.equals(innerResponse('05b').body), '07b de-chunked differs from 05b de-chunked');
  assert.ok(gunzipSync(b.body).toString('utf8').includes('node_exporter_build_info'));
});

test('08b: /clients answers a JSON list of target groups', () => {
  const { head, body } = parseResponse(fixture('08b'));
  assert.equal(head.headers.get('content-type'), 'application/json');
  assert.deepEqual(JSON.parse(body.toString('utf8')), [{ targets: ['127.0.0.1'], labels: null }]);
});

test('09b, 14b, 15: error bodies are exact', () => {
  const expired = parseResponse(fixture('09b'));
  assert.equal(expired.head.status, 408);
  assert.equal(expired.head.reason, 'Request Timeout');
  assert.equal(expired.body.toString('utf8'), 'Error WaitForScrapeInstruction: request is expired\n');
  assert.equal(parseResponse(fixture('14b')).body.toString('utf8'), 'Error pushing: malformed HTTP status code "is"\n');
  const notFound = parseResponse(fixture('15'));
  assert.equal(notFound.head.status, 404);
  assert.equal(notFound.body.toString('utf8'), '404 page not found\n');
});

test('14a: a push whose body is not an HTTP response is refused with a malformed start line', () => {
  const outer = parseRequest(fixture('14a'));
  assert.equal(outer.body.toString('utf8'), 'this is not an http response');
  assert.throws(
    () => parseResponse(outer.body),
    (err: unknown) =>
      err instanceof WireError &&
      err.code === ERROR_CODES.WIRE_MALFORMED_START_LINE &&
      err.message.includes('start line') &&
      err.message.includes('"this is not an http response"'),
  );
});

test('16a/16b: metrics pages are chunked text with the pushprox metrics', () => {
  assert.ok(parseResponse(fixture('16a')).body.toString('utf8').includes('pushprox_http_requests_total'));
  assert.ok(parseResponse(fixture('16b')).body.toString('utf8').includes('pushprox_client_poll_errors_total'));
});
