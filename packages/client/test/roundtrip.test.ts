import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import {
  HEADER_HELLO,
  HEADER_ID,
  HEADER_POLL_CAPACITY,
  HEADER_SCRAPE_TIMEOUT,
  HEADER_SCRAPE_TIMEOUT_LEGACY,
  HOP_BY_HOP_HEADERS,
  parseResponse,
} from '@pushprox/shared';
import { fixture } from '@pushprox/shared/testing';
import { startClient } from '../src/index.js';
import { closeServer, counterValue, FakeProxy, FQDN, listen, METRICS_TEXT, scrapeRequest, startExporter, testConfig, waitFor } from './helpers.js';

test('poll → scrape → push round trip with a Content-Length body (upstream-like proxy)', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const exporter = await startExporter((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(METRICS_TEXT) });
    res.end(METRICS_TEXT);
  });
  t.after(() => exporter.close());
  const client = await startClient(testConfig(proxy.url));
  t.after(() => client.stop());

  await waitFor(() => proxy.held.length === 1, 5000, 'first poll');
  const { bytes, id } = scrapeRequest({
    target: `http://${FQDN}:${exporter.port}/metrics?x=1`,
    extraHeaders: [
      ['Connection', 'keep-alive, X-Hop'],
      ['X-Hop', 'secret'],
      ['Keep-Alive', 'timeout=5'],
    ],
  });
  proxy.scrape(bytes);
  const push = await proxy.waitPush(id);
  await waitFor(() => proxy.polls.length >= 2, 5000, 'second poll');

  // What the exporter saw: origin-form, everything forwarded but Id and hop-by-hop.
  assert.equal(exporter.requests.length, 1);
  const seen = exporter.requests[0]!;
  assert.equal(seen.method, 'GET');
  assert.equal(seen.url, '/metrics?x=1');
  assert.equal(seen.headers['host'], `${FQDN}:${exporter.port}`);
  assert.equal(seen.headers['accept-encoding'], 'gzip');
  assert.equal(seen.headers['user-agent'], 'Prometheus/2.42.0+ds');
  assert.equal(seen.headers[HEADER_SCRAPE_TIMEOUT.toLowerCase()], '10');
  assert.equal(seen.headers['id'], undefined);
  assert.equal(seen.headers['x-hop'], undefined);
  assert.equal(seen.headers['keep-alive'], undefined);

  // The push: outer POST with Content-Length = inner head + body, no Content-Type.
  assert.equal(Number(push.headers['content-length']), push.body.length);
  assert.equal(push.headers['transfer-encoding'], undefined);
  assert.equal(push.headers['content-type'], undefined);
  const { head, body } = push.parsed;
  assert.equal(head.status, 200);
  assert.equal(head.reason, 'OK');
  assert.deepEqual(head.version, { major: 1, minor: 1 });
  assert.equal(head.headers.get(HEADER_ID), id);
  const remaining = Number(head.headers.get(HEADER_SCRAPE_TIMEOUT));
  assert.ok(remaining > 8 && remaining <= 10, `remaining ${remaining}`);
  assert.match(head.headers.get(HEADER_SCRAPE_TIMEOUT)!, /^\d+\.\d{6}$/);
  assert.equal(head.headers.has(HEADER_SCRAPE_TIMEOUT_LEGACY), false);
  assert.equal(head.headers.get('Content-Length'), String(Buffer.byteLength(METRICS_TEXT)));
  assert.equal(head.headers.get('Content-Type'), 'text/plain; version=0.0.4; charset=utf-8');
  for (const [name] of head.headers) assert.ok(!HOP_BY_HOP_HEADERS.has(name.toLowerCase()), `hop-by-hop ${name} in push`);
  assert.equal(body.toString(), METRICS_TEXT);

  // Upstream-shaped first poll: body is the FQDN; ours adds capacity and hello.
  assert.equal(proxy.polls[0]!.body, FQDN);
  assert.equal(proxy.polls[0]!.headers[HEADER_POLL_CAPACITY.toLowerCase()], '4');
  assert.equal(proxy.polls[0]!.headers[HEADER_HELLO.toLowerCase()], '1');
  assert.equal(proxy.polls[1]?.headers[HEADER_HELLO.toLowerCase()], undefined);
  for (const m of ['poll', 'push', 'scrape']) {
    assert.equal(await counterValue(client.metrics.registry, `pushprox_client_${m}_errors_total`), 0, m);
  }
});

test('chunked gzip exporter body (fixture 04b) passes through byte for byte', { timeout: 20_000 }, async (t) => {
  const raw = fixture('04b');
  const expected = parseResponse(raw);
  // A raw socket exporter, so the exact captured bytes (chunked, gzip) go on the wire.
  const requests: string[] = [];
  const exporter = net.createServer((sock) => {
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n\r\n')) {
        requests.push(buf);
        sock.end(raw);
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => exporter.close(() => r())));
  const port = (exporter.address() as AddressInfo).port;
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const client = await startClient(testConfig(proxy.url));
  t.after(() => client.stop());

  const { bytes, id } = scrapeRequest({ target: `http://${FQDN}:${port}/metrics` });
  proxy.scrape(bytes);
  const push = await proxy.waitPush(id);

  assert.match(requests[0]!, /\r\nAccept-Encoding: gzip\r\n/i);
  // Streamed: the outer POST is chunked and the inner response says chunked too.
  assert.equal(push.headers['transfer-encoding'], 'chunked');
  assert.equal(push.headers['content-length'], undefined);
  const { head, body } = push.parsed;
  assert.equal(head.headers.get('Transfer-Encoding'), 'chunked');
  assert.equal(head.headers.has('Content-Length'), false);
  assert.equal(head.headers.get('Content-Encoding'), 'gzip');
  assert.equal(head.headers.get('Date'), 'Sat, 21 Nov 2026 04:18:36 GMT');
  assert.equal(head.headers.get(HEADER_ID), id);
  assert.ok(body.equals(expected.body), 'gzip bytes differ');
  const text = gunzipSync(body).toString();
  assert.equal(text, gunzipSync(expected.body).toString());
  assert.match(text, /^# HELP go_gc_duration_seconds/m);
});

test('_scheme=https scrapes the target over https (trusting --tls.cacert) without the parameter', { timeout: 30_000 }, async (t) => {
  let dir: string;
  try {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pushprox-client-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ], { stdio: 'ignore', timeout: 20_000 });
  } catch {
    t.skip('openssl is not available to make a test certificate');
    return;
  }
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cert = readFileSync(path.join(dir, 'cert.pem'));
  const key = readFileSync(path.join(dir, 'key.pem'));
  const urls: string[] = [];
  const exporter = https.createServer({ cert, key }, (req, res) => {
    urls.push(req.url ?? '');
    res.writeHead(200, { 'Content-Length': Buffer.byteLength(METRICS_TEXT) });
    res.end(METRICS_TEXT);
  });
  await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => { exporter.close(() => r()); exporter.closeAllConnections(); }));
  const port = (exporter.address() as AddressInfo).port;
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const client = await startClient(testConfig(proxy.url, { tls: { ca: cert } }));
  t.after(() => client.stop());

  const { bytes, id } = scrapeRequest({ target: `http://${FQDN}:${port}/probe?module=a&_scheme=https&target=b` });
  proxy.scrape(bytes);
  const push = await proxy.waitPush(id);
  assert.equal(push.parsed.head.status, 200, push.parsed.body.toString());
  assert.deepEqual(urls, ['/probe?module=a&target=b']);
  assert.equal(push.parsed.body.toString(), METRICS_TEXT);
});

test('a scrape request without a timeout header uses the 15 s fallback, not an error', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const exporter = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => exporter.close());
  const client = await startClient(testConfig(proxy.url));
  t.after(() => client.stop());
  const { bytes, id } = scrapeRequest({ target: `http://${FQDN}:${exporter.port}/metrics`, timeoutSeconds: null });
  proxy.scrape(bytes);
  const push = await proxy.waitPush(id);
  assert.equal(push.parsed.head.status, 200);
  const remaining = Number(push.parsed.head.headers.get(HEADER_SCRAPE_TIMEOUT));
  assert.ok(remaining > 13 && remaining <= 15, `remaining ${remaining}`);
  assert.equal(push.parsed.body.toString(), METRICS_TEXT);
});

test('HTTP_PROXY routes scrapes of a named target through a forward proxy (absolute-form); the loopback proxy-url stays direct', { timeout: 20_000 }, async (t) => {
  // Go's ProxyFromEnvironment sends every loopback address direct, so the target is a
  // name that only the forwarder knows (it connects to 127.0.0.1): no DNS is asked.
  const NAME = 'exporter.pushprox.test';
  const exporter = http.createServer((_req, res) => res.end(METRICS_TEXT));
  const port = await listen(exporter);
  t.after(() => closeServer(exporter));
  const forwarded: string[] = [];
  const forwarder = http.createServer((req, res) => {
    forwarded.push(`${req.method} ${req.url}`);
    const to = new URL(req.url!);
    if (to.hostname !== NAME) return void res.writeHead(502).end(`forwarder knows only ${NAME}`);
    const upstream = http.request({ host: '127.0.0.1', port: to.port, path: to.pathname, method: req.method, headers: req.headers, agent: false }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      ures.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  const fwdPort = await listen(forwarder);
  t.after(() => closeServer(forwarder));
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const client = await startClient(testConfig(proxy.url, { fqdn: NAME }), { env: { HTTP_PROXY: `http://user:pw@127.0.0.1:${fwdPort}` } });
  t.after(() => client.stop());

  const { bytes, id } = scrapeRequest({ target: `http://${NAME}:${port}/metrics` });
  proxy.scrape(bytes);
  const push = await proxy.waitPush(id);
  assert.equal(push.parsed.head.status, 200, push.parsed.body.toString());
  assert.equal(push.parsed.body.toString(), METRICS_TEXT);
  // Only the scrape went through the forwarder: polls and pushes to the loopback proxy went direct.
  assert.deepEqual(forwarded, [`GET http://${NAME}:${port}/metrics`]);
});
