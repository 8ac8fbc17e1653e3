import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { PATH_CLIENTS, PATH_PUSH } from '@pushprox/shared';
import { BINARIES, requireBinaries } from '../src/binaries.js';
import { DEMO_BODY, startExporter } from '../src/exporter.js';
import { scrapeVia } from '../src/http.js';
import { startNodeExporter } from '../src/node-exporter.js';
import { makePki, type Pki } from '../src/pki.js';
import { freePort } from '../src/ports.js';
import { Prometheus } from '../src/prometheus.js';
import { metricValue, registeredClients, waitRegistered } from '../src/proxy-api.js';
import { run } from '../src/run.js';
import { killAll, startClientProc, startProxyProc, type Proc } from '../src/procs.js';

/**
 * The client role locked down with bearer tokens or mutual TLS, and the
 * scraper role behind TLS and basic auth, with the real programs: our proxy
 * and client, certificates from `pushprox-proxy pki`, Debian's Prometheus,
 * node_exporter, curl and openssl.
 */

const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-e2e-sec-'));
after(async () => {
  await killAll();
  rmSync(dir, { recursive: true, force: true });
});

test('--client.token-file on both sides: the client registers and is scraped; without the token it is refused', async () => {
  const token = 'e2e-token-0123456789abcdef';
  writeFileSync(path.join(dir, 'proxy-tokens'), `${token} 127.0.0.1\n`);
  writeFileSync(path.join(dir, 'client-token'), `${token}\n`);
  writeFileSync(path.join(dir, 'wrong-token'), 'wrong-token-0123456789abcdef\n');
  const exporter = await startExporter();
  try {
    const proxy = await startProxyProc([`--client.token-file=${path.join(dir, 'proxy-tokens')}`]);
    const intruder = startClientProc(proxy.url, '127.0.0.1', [`--client.token-file=${path.join(dir, 'wrong-token')}`]);
    await intruder.waitFor(/Error polling.*401|unknown bearer token/, 10_000);
    assert.deepEqual(await registeredClients(proxy.url), []);
    await intruder.stop();

    startClientProc(proxy.url, '127.0.0.1', [`--client.token-file=${path.join(dir, 'client-token')}`]);
    await waitRegistered(proxy.url, '127.0.0.1', { timeoutMs: 10_000 });
    const r = await scrapeVia(proxy.port, `${exporter.url}/metrics`, { timeoutSecs: 5 });
    assert.equal(r.status, 200);
  } finally {
    await exporter.close();
  }
});

// --- TLS and basic auth with the built-in CA ---------------------------------

const USER = 'prometheus';
const PASSWORD = 'e2e-Pa55word';
// Cost 4 is bcrypt's minimum: the proxy verifies it per request, so tests stay fast.
const HASH = bcrypt.hashSync(PASSWORD, 4);
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

let mainPki: Promise<Pki> | undefined;
/** The proxy's CA, made once for the tests of this file. */
const proxyPki = () => (mainPki ??= makePki(path.join(dir, 'pki'), ['127.0.0.1']));

type TlsProxy = Proc & { readonly port: number; readonly httpsUrl: string };

/**
 * The proxy on https with the pki's server certificate: client certificates
 * are verified if given (VerifyClientCertIfGiven), so Prometheus and curl
 * need none while our client presents one; scrapes, /clients and /metrics
 * need basic auth.
 */
async function startTlsProxy(t: TestContext, pki: Pki): Promise<TlsProxy> {
  const web = path.join(pki.dir, 'web.yml');
  writeFileSync(
    web,
    `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.serverKey}\n` +
      `  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ${pki.ca}\n` +
      `basic_auth_users:\n  ${USER}: '${HASH}'\n`,
  );
  const p = await startProxyProc([`--web.config.file=${web}`]);
  t.after(() => p.stop('SIGKILL'));
  return Object.assign(p, { httpsUrl: `https://127.0.0.1:${p.port}` });
}

function startMtlsClient(t: TestContext, proxy: TlsProxy, fqdn: string, ca: string, cert: { cert: string; key: string }, extra: string[] = []): Proc {
  const c = startClientProc(proxy.httpsUrl, fqdn, [`--tls.cacert=${ca}`, `--tls.cert=${cert.cert}`, `--tls.key=${cert.key}`, ...extra]);
  t.after(() => c.stop('SIGKILL'));
  return c;
}

/** /clients over https with basic auth. */
function tlsRegistered(proxy: TlsProxy, ca: string): Promise<string[]> {
  return registeredClients(proxy.httpsUrl, { ca: readFileSync(ca), headers: { Authorization: BASIC } });
}

function waitTlsRegistered(proxy: TlsProxy, ca: string, fqdn: string, client: Proc, timeoutMs = 10_000): Promise<void> {
  return waitRegistered(proxy.httpsUrl, fqdn, { client, timeoutMs, ca: readFileSync(ca), headers: { Authorization: BASIC } });
}

/** A labelled sample of the proxy's own /metrics, read over https with basic auth; NaN when absent. */
function proxySample(proxy: TlsProxy, ca: string, series: string): Promise<number> {
  return metricValue(proxy.httpsUrl, series, { ca: readFileSync(ca), headers: { Authorization: BASIC } });
}

test('Prometheus scrapes through an https proxy_url with basic auth while the client polls with a pki certificate; a wrong password is up == 0 with 407', async (t) => {
  if (!requireBinaries(t, 'prometheus', 'nodeExporter')) return;
  const pki = await proxyPki();
  const nePort = await freePort();
  const ne = await startNodeExporter('127.0.0.1', nePort);
  t.after(() => ne.stop('SIGKILL'));
  const proxy = await startTlsProxy(t, pki);
  const client = startMtlsClient(t, proxy, '127.0.0.1', pki.ca, pki.client('127.0.0.1'));
  await waitTlsRegistered(proxy, pki.ca, '127.0.0.1', client);

  // Go's transport talks TLS to an https proxy with the job's tls_config and
  // sends Proxy-Authorization from the proxy URL's userinfo.
  const job = (name: string, password: string) => `  - job_name: ${name}
    proxy_url: https://${USER}:${encodeURIComponent(password)}@127.0.0.1:${proxy.port}/
    tls_config:
      ca_file: ${pki.ca}
    static_configs:
      - targets: ['127.0.0.1:${nePort}']
`;
  const prom = await Prometheus.start(
    `global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n${job('tls-auth', PASSWORD)}${job('wrong-password', 'not-the-password')}`,
  );
  t.after(() => prom.stop());
  const one = async (expr: string) => {
    const r = await prom.query(expr);
    return r.length === 1 ? r[0]!.value : undefined;
  };

  await prom.waitFor('up{job="tls-auth"} == 1', 20_000, () => one('up{job="tls-auth"} == 1'));
  const { value: samples } = await prom.waitFor('samples scraped', 10_000, () => one('scrape_samples_scraped{job="tls-auth"} > 0'));
  t.diagnostic(`scrape_samples_scraped through the TLS proxy: ${samples}`);
  assert.ok(samples > 100, `expected node_exporter's > 100 samples through the proxy, got ${samples}`);
  assert.equal((await prom.query('node_exporter_build_info{job="tls-auth"}')).length, 1);

  const { value: refused } = await prom.waitFor('wrong-password target down', 10_000, async () => {
    const x = (await prom.targets()).find((tg) => tg.scrapePool === 'wrong-password');
    return x && x.health === 'down' ? x : undefined;
  });
  assert.match(refused.lastError, /407/, `expected a 407 in the wrong-password target's lastError, got ${JSON.stringify(refused.lastError)}`);
  assert.equal(await one('up{job="wrong-password"}'), 0);

  assert.ok((await proxySample(proxy, pki.ca, 'pushproxy_proxied_requests_total{code="200"}')) >= 1, 'expected proxied 200s');
  assert.ok((await proxySample(proxy, pki.ca, 'pushproxy_proxied_requests_total{code="407"}')) >= 1, 'expected proxied 407s');
  assert.ok((await proxySample(proxy, pki.ca, `pushprox_http_requests_total{code="200",path="${PATH_PUSH}"}`)) >= 1, 'expected pushes over mTLS');
});

test('curl and openssl accept the pki certificates: /clients with a client certificate and basic auth, a scrape through --proxy https://, exit 60 without the CA', async (t) => {
  if (!requireBinaries(t, 'curl', 'openssl', 'nodeExporter')) return;
  const pki = await proxyPki();
  const cert = pki.client('127.0.0.1');
  for (const file of [cert.cert, pki.serverCert]) {
    const v = await run(BINARIES.openssl, ['verify', '-CAfile', pki.ca, file]);
    assert.equal(v.code, 0, `openssl verify ${file}: ${v.stdout}${v.stderr}`);
    assert.equal(v.stdout.trim(), `${file}: OK`);
  }

  const nePort = await freePort();
  const ne = await startNodeExporter('127.0.0.1', nePort);
  t.after(() => ne.stop('SIGKILL'));
  const proxy = await startTlsProxy(t, pki);
  const client = startMtlsClient(t, proxy, '127.0.0.1', pki.ca, cert);
  await waitTlsRegistered(proxy, pki.ca, '127.0.0.1', client);

  const curl = (...args: string[]) => run(BINARIES.curl, ['-sS', '--max-time', '10', ...args]);
  const clients = `${proxy.httpsUrl}${PATH_CLIENTS}`;
  const listed = await curl('--cacert', pki.ca, '--cert', cert.cert, '--key', cert.key, '-u', `${USER}:${PASSWORD}`, clients);
  assert.equal(listed.code, 0, `curl ${clients}: ${listed.stderr}`);
  assert.deepEqual(JSON.parse(listed.stdout), [{ targets: ['127.0.0.1'], labels: {} }]);

  const unverified = await curl('-u', `${USER}:${PASSWORD}`, clients);
  assert.equal(unverified.code, 60, `expected curl's exit 60 (peer certificate cannot be verified) without --cacert, got ${unverified.code}: ${unverified.stderr}`);
  const anonymous = await curl('--cacert', pki.ca, '-o', '/dev/null', '-w', '%{http_code}', clients);
  assert.equal(anonymous.stdout, '401', `expected 401 from ${PATH_CLIENTS} without -u, got ${anonymous.stdout}: ${anonymous.stderr}`);

  const target = `http://127.0.0.1:${nePort}/metrics`;
  const viaProxy = ['--proxy', proxy.httpsUrl, '--proxy-cacert', pki.ca];
  const scraped = await curl(...viaProxy, '--proxy-user', `${USER}:${PASSWORD}`, target);
  assert.equal(scraped.code, 0, `curl --proxy ${proxy.httpsUrl} ${target}: ${scraped.stderr}`);
  assert.match(scraped.stdout, /^node_exporter_build_info\{/m);
  const samples = scraped.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  assert.ok(samples > 100, `expected > 100 node_exporter samples through the proxy, got ${samples}`);

  const wrong = await curl(...viaProxy, '--proxy-user', `${USER}:wrong`, '-o', '/dev/null', '-w', '%{http_code}', target);
  assert.equal(wrong.stdout, '407', `expected 407 with a wrong proxy password, got ${wrong.stdout}: ${wrong.stderr}`);
  const untrusted = await curl('--proxy', proxy.httpsUrl, '--proxy-user', `${USER}:${PASSWORD}`, target);
  assert.equal(untrusted.code, 60, `expected exit 60 for an https proxy without --proxy-cacert, got ${untrusted.code}: ${untrusted.stderr}`);
});

test('a client certificate from another CA cannot poll (VerifyClientCertIfGiven), while one from the proxy CA registers', async (t) => {
  if (!requireBinaries(t, 'openssl')) return;
  const pki = await proxyPki();
  // The intruder trusts the right server CA but holds a certificate signed by
  // a CA of its own, for an FQDN of its own so /clients tells the two apart.
  const other = await makePki(path.join(dir, 'other-ca'), ['127.0.0.2']);
  const rogue = other.client('127.0.0.2');
  const v = await run(BINARIES.openssl, ['verify', '-CAfile', pki.ca, rogue.cert]);
  assert.notEqual(v.code, 0, `the other CA's certificate must not verify against the proxy CA: ${v.stdout}`);

  const proxy = await startTlsProxy(t, pki);
  const intruder = startMtlsClient(t, proxy, '127.0.0.2', pki.ca, rogue);
  // Refused at the handshake: the intruder logs a poll error and, for 1.5 s
  // more of its retries, never shows up in /clients.
  const refusedBy = Date.now() + 10_000;
  let quietUntil = Infinity;
  while (Date.now() < quietUntil) {
    assert.deepEqual(await tlsRegistered(proxy, pki.ca), [], `a client with a foreign certificate registered:\n${intruder.output}`);
    const polled = /msg="Error polling".*/.exec(intruder.output);
    if (polled && quietUntil === Infinity) {
      t.diagnostic(`refused client logged: ${polled[0]}`);
      quietUntil = Date.now() + 1500;
    }
    if (!polled && Date.now() > refusedBy) assert.fail(`the intruder logged no poll error within 10 s:\n${intruder.output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(intruder.running, `the refused client keeps retrying rather than exit:\n${intruder.output}`);

  const good = startMtlsClient(t, proxy, '127.0.0.1', pki.ca, pki.client('127.0.0.1'));
  await waitTlsRegistered(proxy, pki.ca, '127.0.0.1', good);
  assert.deepEqual(await tlsRegistered(proxy, pki.ca), ['127.0.0.1']);
});

test('over mutual TLS, --proxy.channel carries the scrapes; a client holding another FQDN\'s certificate is refused (403) before it reaches a channel', async (t) => {
  if (!requireBinaries(t, 'curl', 'openssl')) return;
  const pki = await makePki(path.join(dir, 'pki-channel'), ['127.0.0.1', '127.0.0.2']);
  const exporter = await startExporter();
  t.after(() => exporter.close());
  const proxy = await startTlsProxy(t, pki);
  // Holds 127.0.0.2's certificate but claims 127.0.0.1: its polls are refused (403), so it never gets as far as a channel.
  const thief = startMtlsClient(t, proxy, '127.0.0.1', pki.ca, pki.client('127.0.0.2'), ['--proxy.channel']);
  await thief.waitFor(/Error polling.*403/, 10_000);
  assert.deepEqual(await tlsRegistered(proxy, pki.ca), []);
  await thief.stop('SIGKILL');

  const client = startMtlsClient(t, proxy, '127.0.0.1', pki.ca, pki.client('127.0.0.1'), ['--proxy.channel']);
  await client.waitFor(/scrapes now come over it/, 10_000);
  await waitTlsRegistered(proxy, pki.ca, '127.0.0.1', client);
  const curl = (...args: string[]) => run(BINARIES.curl, ['-sS', '--max-time', '10', ...args]);
  for (let i = 0; i < 3; i++) {
    const scraped = await curl('--proxy', proxy.httpsUrl, '--proxy-cacert', pki.ca, '--proxy-user', `${USER}:${PASSWORD}`, `${exporter.url}/metrics`);
    assert.equal(scraped.code, 0, scraped.stderr);
    assert.equal(scraped.stdout, DEMO_BODY);
  }
  assert.doesNotMatch(client.output, /Lost every channel|could not be opened/);
});
