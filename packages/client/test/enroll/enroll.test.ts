import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@pushprox/shared';
import { formatFingerprint, parseFingerprint } from '../../src/enroll/fingerprint.js';
import { startRenewal, type RenewalTimers } from '../../src/enroll/renew.js';

const BIN = fileURLToPath(new URL('../../../bin/pushprox-client.js', import.meta.url));
const HOUR = 3_600_000;

let tmp = '';
const f = (name: string) => path.join(tmp, name);
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pushprox-client-enroll-'));
  // A self-signed pair valid for 3 days: renewal is due after 2 of them.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3', '-subj', '/CN=host-a.example',
    '-keyout', f('client.key'), '-out', f('client.crt')], { stdio: 'ignore', timeout: 30_000 });
  fs.copyFileSync(f('client.crt'), f('ca.crt'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('--enroll.ca-fingerprint', () => {
  const hex = 'ab'.repeat(32);
  test('accepts sha256: prefix, colons and either case; all the same 32 bytes', () => {
    const want = Buffer.from(hex, 'hex');
    for (const s of [hex, hex.toUpperCase(), `sha256:${hex}`, `SHA256:${formatFingerprint(want)}`, formatFingerprint(want).toLowerCase()]) {
      assert.ok(parseFingerprint(s).equals(want), s);
    }
  });
  test('refuses anything but 32 bytes of hex, saying what arrived', () => {
    for (const s of ['ab'.repeat(31), 'ab'.repeat(33), `${'ab'.repeat(31)}zz`, 'sha1:' + hex, '']) {
      assert.throws(() => parseFingerprint(s), /expected a SHA-256 fingerprint: 32 bytes of hex/, s);
    }
  });
});

interface Sleep {
  ms: number;
  fire: () => void;
}

/** Timers that record each sleep and fire only when the test says so. */
function manualTimers(): RenewalTimers & { sleeps: Sleep[]; next(timeoutMs?: number): Promise<Sleep> } {
  const sleeps: Sleep[] = [];
  return {
    sleeps,
    setTimeout(fn, ms) {
      const s = { ms, fire: fn };
      sleeps.push(s);
      return s;
    },
    clearTimeout() {},
    async next(timeoutMs = 15_000) {
      const seen = sleeps.length;
      const end = Date.now() + timeoutMs;
      while (sleeps.length === seen) {
        if (Date.now() > end) throw new Error(`no new sleep within ${timeoutMs} ms (sleeps so far: ${sleeps.map((s) => s.ms).join(', ')})`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return sleeps[sleeps.length - 1]!;
    },
  };
}

function warnings(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (msg, fields) => void lines.push(`${msg} ${JSON.stringify(fields)}`),
    error: (msg) => void lines.push(msg),
    child: () => logger,
    debugEnabled: false,
  };
  return { logger, lines };
}

describe('startRenewal', () => {
  const files = () => ({ certFile: f('client.crt'), keyFile: f('client.key'), caFile: f('ca.crt'), fqdn: 'host-a.example' });
  const notBefore = () => Date.parse(new X509Certificate(fs.readFileSync(f('client.crt'))).validFrom);

  test('sleeps at most 1 h at a time until 2/3 of the lifetime, re-checking the clock after each sleep', async () => {
    const timers = manualTimers();
    let now = notBefore();
    const r = startRenewal({ ...files(), proxyUrl: 'https://127.0.0.1:1', logger: warnings().logger, onRenewed: async () => {},
      timers, now: () => now });
    try {
      assert.equal((await timers.next()).ms, HOUR, 'capped at 1 h');
      // The clock jumped forward to 10 min before the renewal point (2 of 3 days).
      now = notBefore() + 2 * 24 * HOUR - 600_000;
      timers.sleeps.at(-1)!.fire();
      assert.equal((await timers.next()).ms, 600_000);
    } finally {
      r.stop();
    }
  });

  test('failures retry from 1 min doubling to at most 1 h; the files are left alone', async () => {
    const closed = http.createServer();
    await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((res) => closed.close(res));
    const before = fs.readFileSync(f('client.crt'), 'utf8');
    const timers = manualTimers();
    const { logger, lines } = warnings();
    const r = startRenewal({ ...files(), proxyUrl: `https://127.0.0.1:${port}`, logger, onRenewed: async () => assert.fail('not renewed'),
      timers, now: () => notBefore() + 2.5 * 24 * HOUR });
    try {
      const delays: number[] = [];
      for (let i = 0; i < 8; i++) {
        const s = await timers.next();
        delays.push(s.ms);
        s.fire();
      }
      assert.deepEqual(delays, [60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, HOUR, HOUR]);
      assert.match(lines[0]!, /Certificate renewal failed.*ECONNREFUSED/);
      assert.equal(fs.readFileSync(f('client.crt'), 'utf8'), before);
    } finally {
      r.stop();
    }
  });

  test('a 404 (enrollment disabled or an upstream proxy) is logged once and retried hourly', async () => {
    let posts = 0;
    const upstream = http.createServer((req, res) => {
      posts++;
      req.resume();
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 page not found\n');
    });
    await new Promise<void>((res) => upstream.listen(0, '127.0.0.1', res));
    const timers = manualTimers();
    const { logger, lines } = warnings();
    const r = startRenewal({ ...files(), proxyUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, logger,
      onRenewed: async () => assert.fail('not renewed'), timers, now: () => notBefore() + 2.5 * 24 * HOUR });
    try {
      for (let i = 0; i < 3; i++) {
        const s = await timers.next();
        assert.equal(s.ms, HOUR);
        s.fire();
      }
      assert.ok(posts >= 3, `one POST per attempt, got ${posts}`);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0]!, /not offered by the proxy.*answered 404/);
    } finally {
      r.stop();
      upstream.closeAllConnections();
      await new Promise((res) => upstream.close(res));
    }
  });
});

describe('pushprox-client flags', () => {
  const run = (args: string[], extraNodeArgs: string[] = [], timeout = 15_000) =>
    spawnSync(process.execPath, [...extraNodeArgs, BIN, ...args], { encoding: 'utf8', timeout });

  test('--tls.auto-renew without the TLS files it renews is refused naming them', () => {
    const r = run(['--proxy-url=https://127.0.0.1:1', '--fqdn=a.example', '--metrics-addr=', '--tls.auto-renew', `--tls.cacert=${f('ca.crt')}`]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /--tls\.auto-renew needs --tls\.cacert, --tls\.cert and --tls\.key .*got no --tls\.cert, --tls\.key/);
  });

  test('enroll: exactly one of --enroll.token and --enroll.token-file (usage error, exit 2)', () => {
    const base = ['enroll', '--proxy-url=https://127.0.0.1:1', `--enroll.ca-fingerprint=${'ab'.repeat(32)}`, `--tls.dir=${f('never')}`];
    const neither = run(base);
    assert.equal(neither.status, 2);
    assert.match(neither.stderr, /expected exactly one of --enroll\.token and --enroll\.token-file, got neither/);
    const both = run([...base, '--enroll.token=t0123456789abcdef', `--enroll.token-file=${f('x')}`]);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /got both/);
    assert.equal(fs.existsSync(f('never')), false);
  });

  test('the running client never loads node-forge unless it renews', () => {
    const probe = f('probe.cjs');
    fs.writeFileSync(probe, `const M = require('node:module');
process.on('exit', () => process.stderr.write('FORGE_LOADED=' + Object.keys(M._cache).some((k) => k.includes('node-forge')) + '\\n'));
setTimeout(() => process.exit(0), 1500).unref();
`);
    const r = run(['--proxy-url=http://127.0.0.1:1', '--fqdn=a.example', '--metrics-addr='], ['--require', probe]);
    assert.match(r.stderr, /URL and FQDN info/, 'the client started before the probe looked');
    assert.match(r.stderr, /FORGE_LOADED=false/);
  });
});
