/**
 * The whole-buffer parser's fast path (quickHead in parse.ts) against the line-by-line
 * HeadDecoder: on every input, quickHead either declines (undefined) or
 * returns exactly the decoder's head and offset; the decoder gives every
 * error. Inputs are the upstream fixtures and what they tunnel, heads built
 * around each fault the grammar names, and seeded random mutations of both.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeadDecoder } from '../src/http/decoder.js';
import { quickHead } from '../src/http/parse.js';
import { REQUEST_LINE, STATUS_LINE, type StartLineSyntax } from '../src/http/start-line.js';
import { parseRequest, parseResponse, type ParseLimits } from '../src/http/index.js';
import { fixture, fixtureNames } from '../src/testing/fixtures.js';
import { mulberry32 } from '../src/testing/random.js';

type Syntax = StartLineSyntax<unknown>;
interface Case {
  readonly syntax: Syntax;
  readonly bytes: Buffer;
  readonly limits?: ParseLimits;
}

const SEED = 0xc01d;
const MUTATIONS = 20_000;

function viaDecoder(c: Case): { ok: true; head: unknown; offset: number } | { ok: false } {
  try {
    const d = new HeadDecoder(c.syntax, c.limits);
    const offset = d.write(c.bytes, 0);
    return d.done ? { ok: true, head: d.head, offset } : { ok: false };
  } catch {
    return { ok: false };
  }
}

/** Both refuse `c`: quickHead declines it and the decoder gives an error. */
function bothRefuse(c: Case, why: string): void {
  assert.equal(quickHead(c.syntax, c.bytes, c.limits), undefined, why);
  assert.equal(viaDecoder(c).ok, false, `the decoder should refuse it too: ${why}`);
}

function shape(head: unknown): unknown {
  const h = head as { headers: Iterable<unknown> } & Record<string, unknown>;
  return { ...h, headers: [...h.headers] };
}

/** Checks the invariant on `c`; returns whether quickHead took it. */
function agree(c: Case): boolean {
  const quick = quickHead(c.syntax, c.bytes, c.limits);
  if (quick === undefined) return false;
  const slow = viaDecoder(c);
  const where = JSON.stringify(c.bytes.toString('latin1').slice(0, 200));
  assert.ok(slow.ok, `quickHead accepted what HeadDecoder refuses: ${where}`);
  assert.equal(quick.offset, slow.offset, `offset differs: ${where}`);
  assert.deepEqual(shape(quick.head), shape(slow.head), `head differs: ${where}`);
  return true;
}

function corpus(): Case[] {
  const out: Case[] = [];
  for (const name of fixtureNames()) {
    const bytes = fixture(name.slice(0, 3));
    out.push({ syntax: (name.includes('request') ? REQUEST_LINE : STATUS_LINE) as Syntax, bytes });
    try {
      if (name.includes('poll-response')) out.push({ syntax: REQUEST_LINE as Syntax, bytes: parseResponse(bytes).body });
      if (name.includes('push-request') && !name.includes('malformed')) out.push({ syntax: STATUS_LINE as Syntax, bytes: parseRequest(bytes).body });
    } catch {
      // codec.fixtures.test reports unparsable fixtures.
    }
  }
  return out;
}

const SCRAPE =
  'GET http://host-a:9100/metrics HTTP/1.1\r\nHost: host-a:9100\r\nUser-Agent: Prometheus/2.42.0\r\n' +
  'Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n' +
  'Id: 7f0c2e6a-4a8e-4b39-9a53-0f4b1c2d3e4f\r\nX-Prometheus-Scrape-Timeout-Seconds: 1.5\r\n\r\n';

test('quick head: takes every well-formed fixture head, with the decoder\'s result', () => {
  const cases = corpus();
  assert.ok(cases.length >= 10, `expected the upstream fixtures, found ${cases.length} messages`);
  for (const c of cases) {
    if (viaDecoder(c).ok) assert.ok(agree(c), `quickHead declined a well-formed head: ${JSON.stringify(c.bytes.toString('latin1').slice(0, 120))}`);
  }
});

test('quick head: declines each fault the grammar names, so the decoder reports it', () => {
  const faults: Array<[string, string]> = [
    ['bare LF ending a field', SCRAPE.replace('Host: host-a:9100\r\n', 'Host: host-a:9100\n')],
    ['bare LF ending the start line', SCRAPE.replace('HTTP/1.1\r\n', 'HTTP/1.1\n')],
    ['bare CR inside a value', SCRAPE.replace('Prometheus/2.42.0', 'Prometheus\r2.42.0')],
    ['obs-fold', SCRAPE.replace('Host: host-a:9100\r\n', 'Host: host-a:9100\r\n continued\r\n')],
    ['whitespace before the colon', SCRAPE.replace('Host:', 'Host :')],
    ['empty field name', SCRAPE.replace('Host:', ':')],
    ['NUL in a value', SCRAPE.replace('Prometheus', 'Prom\x00etheus')],
    ['DEL in a value', SCRAPE.replace('Prometheus', 'Prom\x7fetheus')],
    ['no colon', SCRAPE.replace('Host: host-a:9100', 'Host host-a')],
    ['two spaces in the start line', SCRAPE.replace('GET ', 'GET  ')],
    ['bad version', SCRAPE.replace('HTTP/1.1', 'HTTP/1.10')],
    ['lower-case version', SCRAPE.replace('HTTP/1.1', 'http/1.1')],
    ['empty start line', `\r\n${SCRAPE}`],
    ['no empty line', SCRAPE.slice(0, -2)],
  ];
  for (const [why, text] of faults) bothRefuse({ syntax: REQUEST_LINE as Syntax, bytes: Buffer.from(text, 'latin1') }, why);
  const status = Buffer.from('HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n', 'latin1');
  bothRefuse({ syntax: STATUS_LINE as Syntax, bytes: status }, 'control character in the reason phrase');
});

test('quick head: keeps the decoder\'s limits to the byte and the field', () => {
  const bytes = Buffer.from(SCRAPE, 'latin1');
  const exact = { maxHeadBytes: bytes.length };
  assert.ok(agree({ syntax: REQUEST_LINE as Syntax, bytes, limits: exact }), 'a head of exactly maxHeadBytes is taken');
  bothRefuse({ syntax: REQUEST_LINE as Syntax, bytes, limits: { maxHeadBytes: bytes.length - 1 } }, 'a head one byte over maxHeadBytes');
  assert.ok(agree({ syntax: REQUEST_LINE as Syntax, bytes, limits: { maxHeaders: 5 } }), 'five fields at maxHeaders 5');
  bothRefuse({ syntax: REQUEST_LINE as Syntax, bytes, limits: { maxHeaders: 4 } }, 'five fields at maxHeaders 4');
});

test('quick head: values keep inner whitespace, lose OWS, and may be empty or obs-text', () => {
  const text = 'GET / HTTP/1.1\r\nA:\t x \t y\t \r\nB:\r\nC: \xe9t\xe9\r\n\r\nbody';
  const bytes = Buffer.from(text, 'latin1');
  const quick = quickHead(REQUEST_LINE, bytes);
  assert.ok(quick);
  assert.deepEqual([...quick.head.headers], [['A', 'x \t y'], ['B', ''], ['C', '\xe9t\xe9']]);
  assert.equal(quick.offset, text.indexOf('body'));
  assert.ok(agree({ syntax: REQUEST_LINE as Syntax, bytes }));
});

test('quick head: agrees with the decoder on seeded random mutations', () => {
  const rand = mulberry32(SEED);
  const int = (n: number): number => Math.floor(rand() * n);
  const INTERESTING = [0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x00, 0x7f, 0x80, 0xff, 0x2f, 0x31];
  const seeds = [...corpus(), { syntax: REQUEST_LINE as Syntax, bytes: Buffer.from(SCRAPE, 'latin1') }];
  let taken = 0;
  for (let i = 0; i < MUTATIONS; i++) {
    const base = seeds[int(seeds.length)]!;
    let bytes = Buffer.from(base.bytes);
    for (let k = 1 + int(3); k > 0 && bytes.length > 0; k--) {
      const at = int(bytes.length);
      const b = rand() < 0.7 ? INTERESTING[int(INTERESTING.length)]! : int(256);
      bytes = rand() < 0.5 ? Buffer.concat([bytes.subarray(0, at), Buffer.from([b]), bytes.subarray(at)]) : (bytes.fill(b, at, at + 1), bytes);
    }
    if (agree({ syntax: base.syntax, bytes })) taken++;
  }
  // Most single-byte faults break a head, but many land in values and bodies and leave it well-formed.
  assert.ok(taken > MUTATIONS / 20, `expected the fast path to take a share of the mutants, took ${taken} of ${MUTATIONS}`);
});
