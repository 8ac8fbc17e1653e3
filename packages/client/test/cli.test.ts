import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/test/cli.test.js → packages/client
const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(PKG, 'bin', 'pushprox-client.js');

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 15_000, env: { ...process.env, COLUMNS: '200' } });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--help lists every flag with its default', () => {
  const { status, stdout } = run(['--help']);
  assert.equal(status, 0);
  const flags: Array<[string, string | undefined]> = [
    ['--fqdn', "this machine's FQDN"],
    ['--proxy-url', undefined],
    ['--tls.cacert', undefined],
    ['--tls.cert', undefined],
    ['--tls.key', undefined],
    ['--metrics-addr', '":9369"'],
    ['--proxy.retry.initial-wait', '"1s"'],
    ['--proxy.retry.max-wait', '"5s"'],
    ['--scrape.concurrency', '"8"'],
    ['--proxy.channel', 'true'],
    ['--shutdown.timeout', '"10s"'],
    ['--allow-port', 'any port'],
    ['--use-localhost', 'false'],
    ['--scrape.allow', 'any port and path'],
    ['--scrape.methods', '"GET,HEAD"'],
    ['--log.level', '"info"'],
    ['--log.format', '"logfmt"'],
    ['--version', undefined],
    ['--help', undefined],
  ];
  for (const [flag, def] of flags) {
    const at = stdout.indexOf(`${flag} `);
    assert.ok(at >= 0, `${flag} missing from help:\n${stdout}`);
    if (def !== undefined) {
      // The default follows the flag's description, before the next flag.
      const rest = stdout.slice(at + flag.length);
      const next = rest.search(/\n {2,}--[a-z]/);
      const section = next < 0 ? rest : rest.slice(0, next);
      assert.ok(section.includes(`[default: ${def}`), `${flag} should show default ${def}: ${section}`);
    }
  }
});

test('--version prints the package version', () => {
  const { status, stdout } = run(['--version']);
  assert.equal(status, 0);
  const pkg = JSON.parse(readFileSync(path.join(PKG, 'package.json'), 'utf8')) as { version: string };
  assert.equal(stdout.trim(), pkg.version);
});

test('a bad duration exits non-zero naming the flag, what was expected and what arrived', () => {
  const { status, stderr } = run(['--proxy-url=http://127.0.0.1:1', '--proxy.retry.initial-wait=10 seconds']);
  assert.notEqual(status, 0);
  assert.match(stderr, /--proxy\.retry\.initial-wait/);
  assert.match(stderr, /expected a Go duration/);
  assert.match(stderr, /"10 seconds"/);
});

test('bad --scrape.concurrency and negative --shutdown.timeout exit non-zero naming the flag', () => {
  const a = run(['--proxy-url=http://127.0.0.1:1', '--scrape.concurrency=0']);
  assert.notEqual(a.status, 0);
  assert.match(a.stderr, /--scrape\.concurrency.*expected a whole number.*"0"/);
  const b = run(['--proxy-url=http://127.0.0.1:1', '--metrics-addr=', '--shutdown.timeout=-1s']);
  assert.notEqual(b.status, 0);
  assert.match(b.stderr, /--shutdown\.timeout.*0s or more.*-1s/);
});

test('an unknown flag exits non-zero', () => {
  const { status, stderr } = run(['--proxy-url=http://127.0.0.1:1', '--no-such-flag=1']);
  assert.notEqual(status, 0);
  assert.match(stderr, /no-such-flag/);
});

test('a missing --proxy-url exits non-zero', () => {
  const { status, stderr } = run([]);
  assert.notEqual(status, 0);
  assert.match(stderr, /proxy-url/);
});

test('unreadable or unusable TLS files exit non-zero naming the flag and the file', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pushprox-client-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const missing = path.join(dir, 'missing.pem');
  const a = run(['--proxy-url=http://127.0.0.1:1', '--metrics-addr=', `--tls.cacert=${missing}`]);
  assert.notEqual(a.status, 0);
  assert.ok(a.stderr.includes('--tls.cacert') && a.stderr.includes(missing), a.stderr);

  const junk = path.join(dir, 'junk.pem');
  writeFileSync(junk, 'not a certificate');
  const b = run(['--proxy-url=http://127.0.0.1:1', '--metrics-addr=', `--tls.cert=${junk}`, `--tls.key=${junk}`]);
  assert.notEqual(b.status, 0);
  assert.ok(b.stderr.includes('--tls.cert') && b.stderr.includes(junk), b.stderr);

  const c = run(['--proxy-url=http://127.0.0.1:1', '--metrics-addr=', `--tls.cert=${junk}`]);
  assert.notEqual(c.status, 0);
  assert.match(c.stderr, /--tls\.cert and --tls\.key must be given together/);
});

test('--use-localhost without --allow-port exits 2 saying why', () => {
  const { status, stderr } = run(['--proxy-url=http://127.0.0.1:1', '--metrics-addr=', '--use-localhost']);
  assert.equal(status, 2);
  assert.match(stderr, /--use-localhost requires --allow-port: scraping 127\.0\.0\.1 on any requested port would expose every local service/);
});

test('bad --allow-port, --scrape.allow and --scrape.methods exit 2 naming the flag, what was expected and what arrived', () => {
  const a = run(['--proxy-url=http://127.0.0.1:1', '--metrics-addr=', '--allow-port=abc']);
  assert.equal(a.status, 2);
  assert.match(a.stderr, /invalid value for --allow-port: expected a port from 1 to 65535.*got "abc"/);
  const b = run(['--proxy-url=http://127.0.0.1:1', '--metrics-addr=', '--allow-port=9100,70000', '--use-localhost']);
  assert.equal(b.status, 2);
  assert.match(b.stderr, /--allow-port.*got "70000" in "9100,70000"/);
  const c = run(['--proxy-url=http://127.0.0.1:1', '--metrics-addr=', '--scrape.allow=:9100/metrics,9796/*']);
  assert.equal(c.status, 2);
  assert.match(c.stderr, /invalid value for --scrape\.allow: expected comma-separated patterns :<port>\[\/path\]\[\*\].*got "9796\/\*"/);
  const d = run(['--proxy-url=http://127.0.0.1:1', '--metrics-addr=', '--scrape.methods=GET,G ET']);
  assert.equal(d.status, 2);
  assert.match(d.stderr, /invalid value for --scrape\.methods: expected a comma-separated list of HTTP methods.*"G ET"/);
});

test('--help lists the target TLS, --insecure-skip-verify and --token-path flags', () => {
  const { status, stdout } = run(['--help']);
  assert.equal(status, 0);
  for (const flag of ['--scrape.tls.cacert', '--scrape.tls.cert', '--scrape.tls.key', '--insecure-skip-verify', '--token-path']) {
    assert.ok(stdout.includes(`${flag} `), `${flag} missing from help:\n${stdout}`);
  }
  const skip = stdout.slice(stdout.indexOf('--insecure-skip-verify '));
  assert.ok(skip.slice(0, skip.indexOf('\n  --')).includes('[default: false]'), skip);
  // --tls.* now says where it applies.
  const cacert = stdout.slice(stdout.indexOf('--tls.cacert '));
  assert.match(cacert.slice(0, cacert.indexOf('\n  --')), /proxy.*unless --scrape\.tls\.\* is given/s);
});

test('a lone --scrape.tls.cert or --scrape.tls.key exits 1 naming both flags; an unreadable file names flag and file', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pushprox-client-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'some.pem');
  writeFileSync(file, 'not a certificate');
  const a = run(['--proxy-url=http://127.0.0.1:1', '--metrics-addr=', `--scrape.tls.cert=${file}`]);
  assert.equal(a.status, 1);
  assert.match(a.stderr, /--scrape\.tls\.cert and --scrape\.tls\.key must be given together, got only --scrape\.tls\.cert=/);
  const b = run(['--proxy-url=http://127.0.0.1:1', '--metrics-addr=', `--scrape.tls.key=${file}`]);
  assert.equal(b.status, 1);
  assert.match(b.stderr, /--scrape\.tls\.cert and --scrape\.tls\.key must be given together, got only --scrape\.tls\.key=/);
  const missing = path.join(dir, 'missing.pem');
  const c = run(['--proxy-url=http://127.0.0.1:1', '--metrics-addr=', `--scrape.tls.cacert=${missing}`]);
  assert.equal(c.status, 1);
  assert.ok(c.stderr.includes(`cannot read --scrape.tls.cacert file ${JSON.stringify(missing)}`), c.stderr);
});

test('an unreadable --token-path at startup exits 1 naming the flag and the file', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pushprox-client-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const missing = path.join(dir, 'token');
  const { status, stderr } = run(['--proxy-url=http://127.0.0.1:1', '--metrics-addr=', `--token-path=${missing}`]);
  assert.equal(status, 1);
  assert.ok(stderr.includes(`cannot read --token-path file ${JSON.stringify(missing)}`), stderr);
});

test('--help lists the enroll command, and "enroll --help" still shows its own flags', () => {
  const top = run(['--help']);
  assert.equal(top.status, 0);
  assert.match(top.stdout, /^Commands:\n\s+pushprox-client enroll\s+\S/m, top.stdout);
  const sub = run(['enroll', '--help']);
  assert.equal(sub.status, 0, sub.stderr);
  assert.match(sub.stdout, /--enroll\.ca-fingerprint/);
});

test('a misspelled flag gets a "did you mean", even for a required flag (not "missing --proxy-url")', () => {
  const a = run(['--proxy_url=http://127.0.0.1:1']);
  assert.equal(a.status, 2);
  assert.match(a.stderr, /^error: unknown flag --proxy_url: did you mean --proxy-url\?$/m);
  assert.doesNotMatch(a.stderr, /Missing required argument/);
  const b = run(['--proxy-url=http://127.0.0.1:1', '--scrape.concurrancy=4']);
  assert.equal(b.status, 2);
  assert.match(b.stderr, /unknown flag --scrape\.concurrancy: did you mean --scrape\.concurrency\?/);
  // Nothing close: no suggestion, still the flag as given.
  const c = run(['--proxy-url=http://127.0.0.1:1', '--no-such-flag=1']);
  assert.equal(c.status, 2);
  assert.match(c.stderr, /^error: unknown flag --no-such-flag$/m);
});

test('Go-style single-dash long flags are accepted (-proxy-url=..., -no-proxy.channel), and a misspelled one is named', () => {
  // --version stops the parse after the flags were checked: exit 0 means every flag was accepted.
  const ok = run(['-proxy-url=http://127.0.0.1:1', '-metrics-addr=', '-no-proxy.channel', '-scrape.concurrency=4', '--version']);
  assert.equal(ok.status, 0, ok.stderr);
  const bad = run(['-proxy-url=http://127.0.0.1:1', '-scrape.concurency=4']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown flag -scrape\.concurency: did you mean --scrape\.concurrency\?/);
  assert.doesNotMatch(bad.stderr, /Unknown arguments: s, c/);
  // A flag given in both styles is one flag given twice (--proxy-url may be repeated; --metrics-addr may not).
  const twice = run(['--proxy-url=http://127.0.0.1:1', '-metrics-addr=', '--metrics-addr=']);
  assert.equal(twice.status, 2);
  assert.match(twice.stderr, /--metrics-addr given more than once/);
});
