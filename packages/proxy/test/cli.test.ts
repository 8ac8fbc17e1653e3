import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { closestFlag, rewriteGoStyleFlags, unknownFlagMessage } from '@pushprox/shared';

const BIN = fileURLToPath(new URL('../../bin/pushprox-proxy.js', import.meta.url));

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, COLUMNS: '200' } });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--help lists the pki command, and "pki --help" still shows the pki commands', () => {
  const top = run(['--help']);
  assert.equal(top.status, 0);
  assert.match(top.stdout, /^Commands:\n\s+pushprox-proxy pki\s+\S/m, top.stdout);
  const sub = run(['pki', '--help']);
  assert.equal(sub.status, 0, sub.stderr);
  assert.match(sub.stdout, /pushprox-proxy pki init/);
  assert.match(sub.stdout, /--pki\.dir/);
});

test('a misspelled flag gets a "did you mean" naming the closest flag', () => {
  for (const [given, meant] of [
    ['--web.listen_address=:0', '--web.listen-address'],
    ['--listen-address=:0', '--web.listen-address'],
    ['--scrape.max-timout=10s', '--scrape.max-timeout'],
    ['--Push.Max-Body-Size=1MB', '--push.max-body-size'],
  ] as const) {
    const r = run([given]);
    assert.equal(r.status, 2, given);
    assert.match(r.stderr, new RegExp(`unknown flag ${given.split('=')[0]!.replace(/\./g, '\\.')}: did you mean ${meant.replace(/\./g, '\\.')}\\?`), r.stderr);
  }
});

test('Go-style -web.listen-address=:port, as upstream docs and systemd units write it, starts the proxy there', async () => {
  const child = spawn(process.execPath, [BIN, '-web.listen-address=127.0.0.1:0', '-scrape.max-timeout=30s'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  try {
    const deadline = Date.now() + 20_000;
    while (!/msg=Listening address=127\.0\.0\.1:\d+/.test(stderr)) {
      assert.equal(child.exitCode, null, `the proxy exited:\n${stderr}`);
      assert.ok(Date.now() < deadline, `no Listening line within 20 s:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  assert.doesNotMatch(stderr, /Unknown arguments/);
});

test('single-dash rewriting leaves short flags, negative values and unknown names alone', () => {
  const known = { names: new Set(['web.listen-address', 'shutdown.timeout', 'help', 'h']), booleans: new Set(['help', 'proxy.channel']) };
  assert.deepEqual(
    rewriteGoStyleFlags(['-web.listen-address=:1', '-h', '-1.5s', '-web.nope', '-no-proxy.channel', '--', '-shutdown.timeout'], known),
    ['--web.listen-address=:1', '-h', '-1.5s', '-web.nope', '--no-proxy.channel', '--', '-shutdown.timeout'],
  );
  assert.equal(unknownFlagMessage(['-h', '-1.5s', '--web.listen-address=:1', '--', '--junk'], known), undefined);
  assert.equal(unknownFlagMessage(['--web.listen-adress=:1'], known), 'unknown flag --web.listen-adress: did you mean --web.listen-address?');
  assert.equal(closestFlag('zzz', known), undefined);
});
