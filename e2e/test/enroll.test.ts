import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { startExporter, type TestExporter } from '../src/exporter.js';
import { CLIENT_BIN, PROXY_BIN, killAll, startClientProc, startProxyProc, type Proc, type ProxyProc } from '../src/procs.js';
import { run as runProgram, type Ran } from '../src/run.js';

/**
 * Enrollment with the real programs: `pushprox-proxy pki init`, a TLS proxy
 * issuing 6 s certificates, `pushprox-client enroll` pinning the printed
 * fingerprint, then the client running on the enrolled pair with
 * --tls.auto-renew, scraped through the proxy while it renews.
 */

const STEP_MS = 20_000;
const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-e2e-enroll-'));
const f = (...p: string[]) => path.join(dir, ...p);
const TOKEN = 'e2e-enroll-token-000000000001';
let fingerprint = '';
let proxy: ProxyProc;
let exporter: TestExporter;

const run = (bin: string, args: readonly string[]): Promise<Ran> => runProgram(process.execPath, [bin, ...args], { timeoutMs: STEP_MS });

const enroll = (...args: string[]) =>
  run(CLIENT_BIN, ['enroll', `--proxy-url=https://127.0.0.1:${proxy.port}`, '--fqdn=127.0.0.1', `--enroll.token=${TOKEN}`, ...args]);

/** A scrape as Prometheus sends it through an https proxy_url. */
function scrapeViaTls(target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: proxy.port,
        path: target,
        ca: readFileSync(f('pki', 'ca.crt')),
        agent: false,
        headers: { 'X-Prometheus-Scrape-Timeout-Seconds': '5' },
      },
      (res) => buffer(res).then((b) => resolve({ status: res.statusCode!, body: b.toString() }), reject),
    );
    req.setTimeout(10_000, () => req.destroy(new Error('scrape got no reply within 10 s')));
    req.on('error', reject);
    req.end();
  });
}

/** Scrapes until one succeeds; fails with the last status and the client's output after `timeoutMs`. */
async function scrapeEventually(client: Proc, timeoutMs = 10_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const r = await scrapeViaTls(`${exporter.url}/metrics`);
    if (r.status === 200) return r.body;
    last = `${r.status} ${r.body}`;
    if (!client.running || Date.now() > end) throw new Error(`no successful scrape within ${timeoutMs} ms (last: ${last}):\n${client.output}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

const serialOf = (file: string) => new X509Certificate(readFileSync(file)).serialNumber;
const mode = (file: string) => statSync(file).mode & 0o777;

before(async () => {
  const init = await run(PROXY_BIN, ['pki', 'init', `--pki.dir=${f('pki')}`, '--pki.san=IP:127.0.0.1']);
  assert.equal(init.code, 0, init.stderr);
  fingerprint = /SHA-256 fingerprint: ([0-9A-F:]{95})\n/.exec(init.stdout)?.[1] ?? '';
  assert.ok(fingerprint, init.stdout);
  writeFileSync(f('tokens'), `${TOKEN} uses=1 127.0.0.1\n`);
  writeFileSync(
    f('web.yml'),
    `tls_server_config:\n  cert_file: ${f('pki', 'server.crt')}\n  key_file: ${f('pki', 'server.key')}\n` +
      `  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ${f('pki', 'ca.crt')}\n`,
  );
  proxy = await startProxyProc([
    `--web.config.file=${f('web.yml')}`,
    `--enroll.token-file=${f('tokens')}`,
    `--enroll.ca-dir=${f('pki')}`,
    '--enroll.cert-validity=6s',
  ]);
  exporter = await startExporter();
});
after(async () => {
  await killAll();
  await exporter?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('enroll with a wrong CA fingerprint: exit 1 naming both fingerprints, nothing written', async () => {
  const wrong = `sha256:${'00'.repeat(32)}`;
  const r = await enroll(`--enroll.ca-fingerprint=${wrong}`, `--tls.dir=${f('wrong')}`);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /PUSHPROX_ENROLL_CA_MISMATCH/);
  assert.ok(r.stderr.includes(`got sha256:${fingerprint}`), r.stderr);
  assert.ok(r.stderr.includes('expected sha256:00:00:'), r.stderr);
  assert.equal(existsSync(f('wrong')), false, 'not even the directory is created');
});

test('enroll with the printed fingerprint writes key 0600 and certificates 0644; the client runs on them and is scraped, renewing without restart', async () => {
  // Lower case without colons: the same pin, written differently.
  const r = await enroll(`--enroll.ca-fingerprint=${fingerprint.replace(/:/g, '').toLowerCase()}`, `--tls.dir=${f('tls')}`);
  assert.equal(r.code, 0, r.stderr);
  const files = { ca: f('tls', 'ca.crt'), key: f('tls', 'client.key'), cert: f('tls', 'client.crt') };
  for (const file of Object.values(files)) assert.ok(r.stdout.includes(`wrote ${file}`), r.stdout);
  assert.match(r.stdout, /--tls\.cacert=.*--tls\.cert=.*--tls\.key=/);
  assert.equal(mode(f('tls')), 0o700);
  assert.equal(mode(files.key), 0o600);
  assert.equal(mode(files.cert), 0o644);
  assert.equal(mode(files.ca), 0o644);
  assert.equal(new X509Certificate(readFileSync(files.ca)).fingerprint256, fingerprint, 'the pinned CA is stored');
  const first = new X509Certificate(readFileSync(files.cert));
  assert.equal(first.subjectAltName, 'IP Address:127.0.0.1');

  const again = await enroll(`--enroll.ca-fingerprint=${fingerprint}`, `--tls.dir=${f('tls')}`);
  assert.equal(again.code, 1);
  assert.ok(again.stderr.includes(`${files.cert} already exists; pass --enroll.force`), again.stderr);

  const client = startClientProc(`https://127.0.0.1:${proxy.port}`, '127.0.0.1', [
    `--tls.cacert=${files.ca}`,
    `--tls.cert=${files.cert}`,
    `--tls.key=${files.key}`,
    '--tls.auto-renew',
  ]);
  assert.match(await scrapeEventually(client), /demo_metric/);

  // 6 s certificates renew at 2/3 of their lifetime: a new serial within a few seconds.
  const end = Date.now() + 15_000;
  while (serialOf(files.cert) === first.serialNumber) {
    assert.ok(client.running, client.output);
    assert.ok(Date.now() < end, `the certificate was not renewed within 15 s:\n${client.output}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  await client.waitFor(/msg="Renewed client certificate"/);
  assert.equal(mode(files.key), 0o600, 'the renewed key keeps its private mode');
  assert.ok(new X509Certificate(readFileSync(files.cert)).checkPrivateKey(
    (await import('node:crypto')).createPrivateKey(readFileSync(files.key))), 'key and certificate on disk belong together');
  await proxy.waitFor(/msg="Renewed client certificate" fqdn=127\.0\.0\.1 by="certificate CN=127\.0\.0\.1/);

  // Past the first certificate's expiry, new connections need the renewed pair.
  const pastFirst = Date.parse(first.validTo) + 1500 - Date.now();
  if (pastFirst > 0) await new Promise((res) => setTimeout(res, pastFirst));
  assert.match(await scrapeEventually(client), /demo_metric/);
  assert.ok(client.running, 'the same client process, never restarted');
  assert.doesNotMatch(client.output, /level=(warn|error) msg="Certificate renewal failed"/);
});
