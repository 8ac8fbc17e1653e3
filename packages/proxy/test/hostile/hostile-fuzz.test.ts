/**
 * Bounded, seeded fuzz of /push through the real proxy: for each case a real
 * scrape is parked, then a random or mutated version of an upstream push body
 * (fixtures 05a–05d) is pushed for it. At most MAX_CASES cases or
 * TIME_BUDGET_MS of wall time, BATCH cases at once (one FQDN each).
 *
 * Invariants:
 * - every push is answered, 2xx or 4xx, within CASE_TIMEOUT_MS;
 * - a push the codec accepts (with the right Id and a final status) is
 *   relayed: Prometheus gets a complete response with the pushed status and
 *   exactly the decoded body; every other push is refused with 4xx;
 * - a refused push leaves Prometheus with a complete 5xx or a connection cut
 *   before its response was complete, never a complete non-error response;
 * - whatever Prometheus gets parses as one unambiguous message;
 * - the proxy returns to no waiting polls, pending or active scrapes.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEADER_ID, WireError, parseRequest, parseResponse, type ParsedResponse } from '@pushprox/shared';
import { fixture, mulberry32 } from '@pushprox/shared/testing';
import type { RunningProxy } from '../../src/listeners/server.js';
import { connect, withProxy } from '../helpers.js';
import { drain, idle, judge, latin1, parkScrape } from './hostile-helpers.js';

const SEED = 0xc0ffee;
const MAX_CASES = 300;
const TIME_BUDGET_MS = 20_000;
const BATCH = 10;
const CASE_TIMEOUT_MS = 8_000;
const DEADLINE = '0.3';
const ID_MARK = '\u0000ID\u0000';

const rand = mulberry32(SEED);
const int = (n: number): number => Math.floor(rand() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;

/** The pushed responses of the upstream captures, with their Id replaced by a marker. */
const SEEDS: Buffer[] = ['05a', '05b', '05c', '05d'].map((name) => {
  const inner = parseRequest(fixture(name)).body.toString('latin1');
  const marked = inner.replace(/\r\nId: [0-9a-f-]{36}\r\n/, `\r\nId: ${ID_MARK}\r\n`);
  assert.notEqual(marked, inner, `fixture ${name} has an Id`);
  return latin1(marked);
});

const INTERESTING = [0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x00, 0x3b, 0x2c, 0x30, 0x7f, 0xff];
const TOKENS = ['\r\n', '\n', '\r', ': ', '0\r\n\r\n', 'ffffffffffffffff\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil', ' '];
const FIELDS = [
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: chunked, identity',
  'Content-Length: 0',
  'Content-Length: 7',
  'Content-Length: -1',
  'Content-Length: 3, 4',
  'X-Folded: a\r\n b',
  'Connection: close',
  `Id: ${ID_MARK}`,
];

function mutate(buf: Buffer): Buffer {
  const at = int(buf.length + 1);
  const headEnd = buf.indexOf('\r\n\r\n');
  const lineAt = headEnd < 0 ? at : buf.indexOf('\r\n', int(headEnd + 1)) + 2;
  switch (int(7)) {
    case 0: {
      const copy = Buffer.from(buf);
      if (copy.length > 0) copy[int(copy.length)] = rand() < 0.5 ? pick(INTERESTING) : int(256);
      return copy;
    }
    case 1:
      return Buffer.concat([buf.subarray(0, at), buf.subarray(Math.min(buf.length, at + 1 + int(8)))]);
    case 2:
      return Buffer.concat([buf.subarray(0, lineAt), latin1(`${pick(FIELDS)}\r\n`), buf.subarray(lineAt)]);
    case 3:
      return Buffer.concat([buf.subarray(0, at), latin1(pick(TOKENS)), buf.subarray(at)]);
    case 4:
      return buf.subarray(0, at);
    case 5:
      return Buffer.concat([buf, latin1(pick(TOKENS))]);
    default:
      return Buffer.concat([buf.subarray(0, at), Buffer.from([pick(INTERESTING)]), buf.subarray(at)]);
  }
}

function randomCase(): Buffer {
  const parts = [latin1(`HTTP/1.${int(2)} ${100 + int(500)} X\r\nId: ${ID_MARK}\r\n`)];
  for (let n = int(6); n > 0; n--) parts.push(rand() < 0.5 ? latin1(pick([...TOKENS, ...FIELDS])) : Buffer.from(Array.from({ length: int(12) }, () => int(256))));
  return Buffer.concat(parts);
}

function nextCase(i: number): Buffer {
  if (i % 5 === 0) return randomCase();
  let bytes = pick(SEEDS);
  for (let m = 1 + int(3); m > 0; m--) bytes = mutate(bytes);
  return bytes;
}

/** The outer /push: Content-Length or chunked, written in up to three pieces. */
async function push(port: number, inner: Buffer) {
  const chunked = rand() < 0.3;
  const head = latin1(`POST /push HTTP/1.1\r\nHost: p\r\nConnection: close\r\n${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${inner.length}`}\r\n\r\n`);
  const body = chunked ? Buffer.concat([latin1(`${inner.length.toString(16)}\r\n`), inner, latin1('\r\n0\r\n\r\n')]) : inner;
  const bytes = Buffer.concat([head, body]);
  const s = await connect(port);
  const answer = drain(s, CASE_TIMEOUT_MS);
  const cuts = [0, int(bytes.length), int(bytes.length), bytes.length].sort((a, b) => a - b);
  for (let i = 1; i < cuts.length; i++) {
    if (cuts[i]! > cuts[i - 1]!) s.write(bytes.subarray(cuts[i - 1], cuts[i]));
    await new Promise((r) => setImmediate(r));
  }
  return judge((await answer).bytes);
}

function expectation(inner: Buffer, id: string): ParsedResponse | undefined {
  try {
    const r = parseResponse(inner);
    return r.head.headers.get(HEADER_ID) === id ? r : undefined;
  } catch (err) {
    if (err instanceof WireError) return undefined;
    throw err;
  }
}

async function runCase(proxy: RunningProxy, fqdn: string, template: Buffer): Promise<string> {
  const parked = await parkScrape(proxy, fqdn, DEADLINE);
  const inner = latin1(template.toString('latin1').split(ID_MARK).join(parked.id));
  const want = expectation(inner, parked.id);
  const where = JSON.stringify(inner.toString('latin1').slice(0, 300));
  const pushed = await push(proxy.address.port, inner);
  assert.ok(pushed.complete, `push not answered: ${where}`);
  const status = pushed.head.status;
  assert.ok((status >= 200 && status < 300) || (status >= 400 && status < 500), `push got ${status}: ${where}`);
  const scraped = judge((await parked.answer).bytes);
  // An interim (1xx) status is no answer to a scrape.
  if (want !== undefined && want.head.status < 200) assert.equal(status, 400, `a pushed ${want.head.status} was accepted: ${where}`);
  if (want !== undefined && want.head.status >= 200) {
    assert.equal(status, 200, `an acceptable push was refused (${pushed.body.toString()}): ${where}`);
    assert.ok(scraped.complete, `the relayed response is incomplete (${scraped.complete ? '' : scraped.code}): ${where}`);
    assert.equal(scraped.head.status, want.head.status, where);
    const bodyless = want.head.status === 204 || want.head.status === 304;
    assert.ok(scraped.body.equals(bodyless ? Buffer.alloc(0) : want.body), `relayed body differs: ${where}`);
    return 'relayed';
  }
  assert.ok(status >= 400, `a push the codec refuses was accepted (${status}): ${where}`);
  if (scraped.complete) {
    assert.ok(scraped.head.status >= 500, `refused push (${status}) but Prometheus got a complete ${scraped.head.status}: ${where}`);
    return `refused ${status}, scrape ${scraped.head.status}`;
  }
  return `refused ${status}, scrape cut`;
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

test('fuzz: random and mutated pushes never crash or hang the proxy, never leak a scrape, never give Prometheus an ambiguous answer', async (t) => {
  await withProxy({}, async (proxy) => {
    const started = Date.now();
    const outcomes = new Map<string, number>();
    let cases = 0;
    while (cases < MAX_CASES && Date.now() - started < TIME_BUDGET_MS) {
      const batch = Array.from({ length: Math.min(BATCH, MAX_CASES - cases) }, (_, i) => ({ fqdn: `fuzz-${i}`, template: nextCase(cases + i) }));
      const results = await Promise.all(
        batch.map(({ fqdn, template }) =>
          bounded(runCase(proxy, fqdn, template), CASE_TIMEOUT_MS, `case ${JSON.stringify(template.toString('latin1').slice(0, 200))}`),
        ),
      );
      for (const r of results) outcomes.set(r, (outcomes.get(r) ?? 0) + 1);
      cases += batch.length;
      await idle(proxy);
    }
    const summary = [...outcomes.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}=${n}`);
    t.diagnostic(`proxy fuzz: ${cases} cases in ${Date.now() - started} ms (seed ${SEED}); ${summary.join('; ')}`);
    assert.ok((outcomes.get('relayed') ?? 0) > 0, 'no case was relayed: the fuzzer does not exercise acceptance');
    assert.ok(cases >= 50, `only ${cases} cases ran within the time budget`);
  });
});
