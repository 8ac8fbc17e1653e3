import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startClient } from '../../src/index.js';
import { counterValue, FakeProxy, FQDN, METRICS_TEXT, recordingLogger, scrapeRequest, waitFor, type LogLine } from '../helpers.js';
import { configFromFlags, Pki, startHttpsExporter } from '../tls-helpers.js';

/**
 * Two CAs: `proxy-ca` signs the proxy's server certificate and the client
 * certificate for the proxy; `target-ca` signs the exporter's server
 * certificate and the client certificate for targets. `selfsigned` is trusted
 * by nobody.
 */
const pki = new Pki();
before(() => {
  pki.ca('proxy-ca').leaf('proxy', 'proxy-ca', 'server').leaf('client-for-proxy', 'proxy-ca', 'client');
  pki.ca('target-ca').leaf('target', 'target-ca', 'server').leaf('client-for-target', 'target-ca', 'client');
  pki.leaf('target-by-proxy-ca', 'proxy-ca', 'server');
  pki.leaf('selfsigned', undefined, 'server');
});
after(() => pki.remove());

const proxyFlags = () => [`--tls.cacert=${pki.file('proxy-ca.crt')}`, `--tls.cert=${pki.file('client-for-proxy.crt')}`, `--tls.key=${pki.file('client-for-proxy.key')}`];
const scrapeFlags = () => [
  `--scrape.tls.cacert=${pki.file('target-ca.crt')}`,
  `--scrape.tls.cert=${pki.file('client-for-target.crt')}`,
  `--scrape.tls.key=${pki.file('client-for-target.key')}`,
];
const httpsTarget = (port: number) => `http://${FQDN}:${port}/metrics?_scheme=https`;

test('--scrape.tls.*: an https target of its own CA is scraped with its own client cert; the proxy uses --tls.* of another CA', { timeout: 30_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream', pki.serverTls('proxy', { requestCert: true, rejectUnauthorized: true, ca: pki.read('proxy-ca.crt') }));
  t.after(() => proxy.close());
  const target = await startHttpsExporter(pki.serverTls('target'), (_req, res) => res.end(METRICS_TEXT));
  t.after(() => target.close());
  const wrongCa = await startHttpsExporter(pki.serverTls('target-by-proxy-ca'), (_req, res) => res.end(METRICS_TEXT));
  t.after(() => wrongCa.close());
  const client = await startClient(await configFromFlags(proxy.url, [...proxyFlags(), ...scrapeFlags()]), { env: {} });
  t.after(() => client.stop());

  const good = scrapeRequest({ target: httpsTarget(target.port) });
  proxy.scrape(good.bytes);
  const push = await proxy.waitPush(good.id, 10_000);
  assert.equal(push.parsed.head.status, 200, push.parsed.body.toString());
  assert.equal(push.parsed.body.toString(), METRICS_TEXT);
  assert.deepEqual(target.clientCNs, ['client-for-target']);
  // The proxy saw (and required) the --tls.* client certificate on poll and push.
  assert.equal(proxy.polls[0]?.peerCN, 'client-for-proxy');
  assert.equal(push.peerCN, 'client-for-proxy');

  // Targets use only the scrape set: a target certified by the proxy's CA is not trusted.
  const bad = scrapeRequest({ target: httpsTarget(wrongCa.port) });
  proxy.scrape(bad.bytes);
  const failed = await proxy.waitPush(bad.id, 10_000);
  assert.equal(failed.parsed.head.status, 500);
  assert.match(failed.parsed.body.toString(), /failed to scrape https:\/\/127\.0\.0\.1:\d+\/metrics: .*certificate/i);
  assert.equal(wrongCa.requests.length, 0);
});

test('no --scrape.tls.* flag: https targets use the --tls.* CA and client certificate, as upstream', { timeout: 30_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream', pki.serverTls('proxy'));
  t.after(() => proxy.close());
  const target = await startHttpsExporter(pki.serverTls('target-by-proxy-ca'), (_req, res) => res.end(METRICS_TEXT));
  t.after(() => target.close());
  const otherCa = await startHttpsExporter(pki.serverTls('target'), (_req, res) => res.end(METRICS_TEXT));
  t.after(() => otherCa.close());
  const config = await configFromFlags(proxy.url, proxyFlags());
  assert.equal(config.scrapeTls, undefined);
  const client = await startClient(config, { env: {} });
  t.after(() => client.stop());

  const good = scrapeRequest({ target: httpsTarget(target.port) });
  proxy.scrape(good.bytes);
  const push = await proxy.waitPush(good.id, 10_000);
  assert.equal(push.parsed.head.status, 200, push.parsed.body.toString());
  assert.deepEqual(target.clientCNs, ['client-for-proxy']);

  const bad = scrapeRequest({ target: httpsTarget(otherCa.port) });
  proxy.scrape(bad.bytes);
  const failed = await proxy.waitPush(bad.id, 10_000);
  assert.equal(failed.parsed.head.status, 500);
  assert.match(failed.parsed.body.toString(), /certificate/i);
});

test('--insecure-skip-verify: a self-signed target is scraped, with a startup warning; without it the scrape fails on the certificate', { timeout: 30_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream', pki.serverTls('proxy'));
  t.after(() => proxy.close());
  const target = await startHttpsExporter(pki.serverTls('selfsigned'), (_req, res) => res.end(METRICS_TEXT));
  t.after(() => target.close());

  const strict = await startClient(await configFromFlags(proxy.url, proxyFlags()), { env: {} });
  const refused = scrapeRequest({ target: httpsTarget(target.port) });
  proxy.scrape(refused.bytes);
  const failed = await proxy.waitPush(refused.id, 10_000);
  await strict.stop();
  assert.equal(failed.parsed.head.status, 500);
  assert.match(failed.parsed.body.toString(), /self[- ]signed certificate/i);
  assert.equal(target.requests.length, 0);

  const lines: LogLine[] = [];
  const client = await startClient(await configFromFlags(proxy.url, [...proxyFlags(), '--insecure-skip-verify']), {
    env: {},
    logger: recordingLogger(lines),
  });
  t.after(() => client.stop());
  assert.ok(
    lines.some((l) => l.level === 'warn' && l.msg.includes('--insecure-skip-verify')),
    `expected a startup warning: ${JSON.stringify(lines)}`,
  );
  const ok = scrapeRequest({ target: httpsTarget(target.port) });
  proxy.scrape(ok.bytes);
  const push = await proxy.waitPush(ok.id, 10_000);
  assert.equal(push.parsed.head.status, 200, push.parsed.body.toString());
  assert.equal(push.parsed.body.toString(), METRICS_TEXT);
});

test('--insecure-skip-verify never applies to the proxy: a proxy with an untrusted certificate is refused', { timeout: 30_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream', pki.serverTls('selfsigned'));
  t.after(() => proxy.close());
  let handshakeErrors = 0;
  proxy.server.on('tlsClientError', () => handshakeErrors++);
  const client = await startClient(await configFromFlags(proxy.url, [...proxyFlags(), '--insecure-skip-verify']), { env: {} });
  t.after(() => client.stop());
  await waitFor(() => handshakeErrors >= 2, 10_000, 'two refused TLS handshakes with the proxy');
  assert.equal(proxy.polls.length, 0, 'no poll may reach a proxy whose certificate failed verification');
  assert.ok((await counterValue(client.metrics.registry, 'pushprox_client_poll_errors_total')) >= 1);
});
