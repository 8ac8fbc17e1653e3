import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { CONTENT_TYPE_CSR, PATH_ENROLL, createLogger, silentLogger } from '@pushprox/shared';
import { startProxy, type RunningProxy } from '../../src/listeners/server.js';
import { createCa } from '../../src/pki/ca.js';
import { createEnrollHandler } from '../../src/enroll/handler.js';
import { EnrollState } from '../../src/enroll/state.js';
import { parseEnrollTokens } from '../../src/enroll/tokens.js';
import { WarnAggregator } from '../../src/warn-aggregator.js';
import { requestText, TEST_CONFIG, type TextReply } from '../helpers.js';

const GOOD = 'good-bootstrap-token-000001';
const GUESSES = 40;
const LIMIT = 5;
const WARN_INTERVAL_MS = 1000;

let tmp = '';
let csr = '';
let proxy: RunningProxy;
/** What the proxy's logger wrote, one logfmt line each. */
const logged: string[] = [];

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pushprox-enroll-guess-'));
  csr = execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(tmp, 'k.key'), '-subj', '/CN=host-g.example'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  // The logger as main.ts makes it, writing into memory instead of stderr.
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logged.push(...chunk.toString().split('\n').filter((l) => l !== ''));
      cb();
    },
  });
  const handler = createEnrollHandler({
    ca: createCa({ days: 30 }),
    tokens: parseEnrollTokens(`${GOOD}\n`, 'inline'),
    state: EnrollState.load(path.join(tmp, 'state.json')),
    certValidityMs: 3_600_000,
    logger: createLogger({ stream }),
    maxFailures: LIMIT,
    warnIntervalMs: WARN_INTERVAL_MS,
  });
  proxy = await startProxy(TEST_CONFIG, { logger: silentLogger, enroll: handler });
});
after(async () => {
  await proxy?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

type Reply = TextReply;

/** POST /enroll with `token`, from `from` (a loopback alias), on a keep-alive connection of `agent`. */
function enroll(from: string, token: string, agent: http.Agent | false = false): Promise<Reply> {
  return requestText(
    {
      host: '127.0.0.1',
      port: proxy.address.port,
      localAddress: from,
      method: 'POST',
      path: PATH_ENROLL,
      agent,
      headers: { 'Content-Type': CONTENT_TYPE_CSR, Authorization: `Bearer ${token}` },
    },
    csr,
  );
}

const refusalLines = () => logged.filter((l) => l.includes('msg="Enrollment refused'));

describe('enrollment token guessing', { timeout: 60_000 }, () => {
  test('many wrong tokens from one source: 401 up to the limit, then 429 with Retry-After; log lines stay bounded', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const replies: Reply[] = [];
    const started = Date.now();
    try {
      for (let i = 0; i < GUESSES; i++) replies.push(await enroll('127.0.0.1', `guessed-token-${String(i).padStart(16, '0')}`, agent));
    } finally {
      agent.destroy();
    }
    assert.deepEqual(
      replies.map((r) => r.status),
      [...Array<number>(LIMIT).fill(401), ...Array<number>(GUESSES - LIMIT).fill(429)],
    );
    const refused = replies.at(-1)!;
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `expected Retry-After 1..60 s, got ${refused.headers['retry-after']}`);
    assert.match(refused.body, /too many refused enrollment attempts from 127\.0\.0\.1/);
    // Throttled means throttled: the right token from that source waits too.
    assert.equal((await enroll('127.0.0.1', GOOD)).status, 429);

    // The refusals up to the limit are written in full; the rest only as summary lines (count=N), one per interval.
    const represented = () =>
      refusalLines().reduce((n, l) => n + (/ count=(\d+) /.exec(l) ? Number(/ count=(\d+) /.exec(l)![1]) : 1), 0);
    const end = Date.now() + 10_000;
    while (represented() < GUESSES + 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const lines = refusalLines();
    assert.equal(represented(), GUESSES + 1, lines.join('\n'));
    for (const l of lines.slice(0, LIMIT)) assert.match(l, /level=warn msg="Enrollment refused" source=127\.0\.0\.1 .*status=401/);
    assert.ok(lines.slice(LIMIT).every((l) => /msg="Enrollment refused \(repeated\)" source=127\.0\.0\.1 count=\d+ /.test(l)), lines.join('\n'));
    const bound = LIMIT + 1 + Math.ceil((Date.now() - started) / WARN_INTERVAL_MS);
    assert.ok(lines.length <= bound && lines.length < LIMIT + 5, `expected at most ${bound} lines for ${GUESSES + 1} refusals, got ${lines.length}`);
  });

  test('a valid token from another source still enrolls during the flood', async () => {
    const r = await enroll('127.0.0.2', GOOD);
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /^-----BEGIN CERTIFICATE-----/);
    assert.ok(logged.some((l) => l.includes('msg="Enrolled client"') && l.includes('fqdn=host-g.example')));
  });
});

describe('WarnAggregator', () => {
  test('many sources cannot flood the log: full lines stop at maxLines, the rest are counted per source or under other', () => {
    const lines: Array<{ msg: string; fields: Record<string, unknown> }> = [];
    const logger = { ...silentLogger, warn: (msg: string, fields?: Record<string, unknown>) => void lines.push({ msg, fields: { ...fields } }) };
    const agg = new WarnAggregator({ logger, msg: 'Refused', burst: 2, maxLines: 10, maxSources: 8, intervalMs: 3_600_000 });
    try {
      for (let round = 0; round < 5; round++) for (let i = 0; i < 20; i++) agg.note(`10.0.0.${i}`, { round });
      assert.equal(lines.length, 10, 'full lines within the interval');
      agg.flush();
      const summaries = lines.slice(10);
      assert.ok(summaries.every((l) => l.msg === 'Refused (repeated)'));
      assert.ok(summaries.length <= 8 + 1, `expected at most maxSources + 1 summary lines, got ${summaries.length}`);
      const counted = summaries.reduce((n, l) => n + (l.fields['count'] as number), 0);
      assert.equal(counted + 10, 100, 'every event is written or counted');
      assert.ok(summaries.some((l) => l.fields['source'] === 'other'));
      // A source still going stays counted-only in the next interval.
      const before = lines.length;
      agg.note('10.0.0.0', {});
      assert.equal(lines.length, before);
    } finally {
      agg.close();
    }
  });
});
