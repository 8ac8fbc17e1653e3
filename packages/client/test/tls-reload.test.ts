import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startClient, type RunningClient } from '../src/index.js';
import { FakeProxy, FQDN, METRICS_TEXT, recordingLogger, scrapeRequest, startExporter, waitFor, type Exporter, type LogLine } from './helpers.js';
import { configFromFlags, Pki } from './tls-helpers.js';

/** `client-a` and `client-b` are both signed by `clients-ca`, which the proxy requires. */
const pki = new Pki();
before(() => {
  pki.ca('proxy-ca').leaf('proxy', 'proxy-ca', 'server');
  pki.ca('clients-ca').leaf('client-a', 'clients-ca', 'client').leaf('client-b', 'clients-ca', 'client');
});
after(() => pki.remove());

/** Puts certificate `name` where --tls.cert/--tls.key point. */
function install(name: string): void {
  copyFileSync(pki.file(`${name}.crt`), pki.file('client.crt'));
  copyFileSync(pki.file(`${name}.key`), pki.file('client.key'));
}

/** Client pair A installed; a fake proxy that requires certificates of the clients' CA; an exporter. */
async function proxyAndExporter(t: { after(fn: () => unknown): void }): Promise<{ proxy: FakeProxy; exporter: Exporter }> {
  install('client-a');
  const proxy = await FakeProxy.start(
    'upstream',
    pki.serverTls('proxy', { requestCert: true, rejectUnauthorized: true, ca: pki.read('clients-ca.crt') }),
  );
  t.after(() => proxy.close());
  const exporter = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => exporter.close());
  return { proxy, exporter };
}

async function setup(t: { after(fn: () => unknown): void }, opts: { graceMs?: number; lines?: LogLine[] } = {}): Promise<{
  proxy: FakeProxy;
  exporter: Exporter;
  client: RunningClient;
}> {
  const { proxy, exporter } = await proxyAndExporter(t);
  const config = await configFromFlags(proxy.url, [
    `--tls.cacert=${pki.file('proxy-ca.crt')}`,
    `--tls.cert=${pki.file('client.crt')}`,
    `--tls.key=${pki.file('client.key')}`,
  ]);
  const client = await startClient(config, {
    env: {},
    ...(opts.graceMs !== undefined && { tlsReloadGraceMs: opts.graceMs }),
    ...(opts.lines && { logger: recordingLogger(opts.lines) }),
  });
  t.after(() => client.stop());
  await waitFor(() => proxy.polls.length >= 1, 10_000, 'the first poll');
  return { proxy, exporter, client };
}

/** Answers the held poll with a scrape; returns the push's peer CN and the next poll's. */
async function scrapeOnce(proxy: FakeProxy, exporter: Exporter): Promise<{ push: string | undefined; nextPoll: string | undefined }> {
  const polls = proxy.polls.length;
  const { bytes, id } = scrapeRequest({ target: `http://${FQDN}:${exporter.port}/metrics` });
  proxy.scrape(bytes);
  const push = await proxy.waitPush(id, 10_000);
  assert.equal(push.parsed.head.status, 200);
  await waitFor(() => proxy.polls.length > polls, 10_000, 'the poll after the scrape');
  return { push: push.peerCN, nextPoll: proxy.polls.at(-1)?.peerCN };
}

test('reloadTls: after the certificate files are replaced, the next push and poll present the new certificate', { timeout: 30_000 }, async (t) => {
  const { proxy, exporter, client } = await setup(t);
  assert.equal(proxy.polls[0]?.peerCN, 'client-a');
  assert.deepEqual(await scrapeOnce(proxy, exporter), { push: 'client-a', nextPoll: 'client-a' });

  install('client-b');
  await client.reloadTls();
  assert.deepEqual(await scrapeOnce(proxy, exporter), { push: 'client-b', nextPoll: 'client-b' });
  assert.deepEqual(await scrapeOnce(proxy, exporter), { push: 'client-b', nextPoll: 'client-b' });
});

test('reloadTls with a bad or missing file rejects naming it, logs an error and keeps the old certificate', { timeout: 30_000 }, async (t) => {
  const lines: LogLine[] = [];
  const { proxy, exporter, client } = await setup(t, { lines });

  writeFileSync(pki.file('client.crt'), 'not a certificate');
  await assert.rejects(client.reloadTls(), (err: Error) => {
    assert.ok(err.message.includes(`--tls.cert ${JSON.stringify(pki.file('client.crt'))}`), err.message);
    return true;
  });
  assert.ok(lines.some((l) => l.level === 'error' && String(l.fields['err']).includes('--tls.cert')), JSON.stringify(lines));
  assert.deepEqual(await scrapeOnce(proxy, exporter), { push: 'client-a', nextPoll: 'client-a' });

  rmSync(pki.file('client.key'));
  await assert.rejects(client.reloadTls(), (err: Error) => {
    assert.ok(err.message.includes(`cannot read --tls.key file ${JSON.stringify(pki.file('client.key'))}`), err.message);
    return true;
  });
  assert.deepEqual(await scrapeOnce(proxy, exporter), { push: 'client-a', nextPoll: 'client-a' });

  // Fixed files reload fine afterwards.
  install('client-b');
  await client.reloadTls();
  assert.deepEqual(await scrapeOnce(proxy, exporter), { push: 'client-b', nextPoll: 'client-b' });
});

test('reloadTls: a poll held on the old connection is cut after the grace time and re-sent with the new certificate', { timeout: 30_000 }, async (t) => {
  const { proxy, client } = await setup(t, { graceMs: 200 });
  assert.equal(proxy.held.length, 1);
  install('client-b');
  await client.reloadTls();
  // No scrape arrives: only the bounded retirement of the old dispatcher ends the held poll.
  await waitFor(() => proxy.polls.some((p) => p.peerCN === 'client-b'), 10_000, 'a poll with client-b');
  assert.deepEqual(
    proxy.polls.map((p) => p.peerCN),
    ['client-a', 'client-b'],
  );
});

test('reloadTls after stop() rejects instead of opening new connections', { timeout: 30_000 }, async (t) => {
  const { client } = await setup(t);
  await client.stop();
  await assert.rejects(client.reloadTls(), /client is stopping/);
});

test('SIGHUP makes the running pushprox-client re-read its --tls.* files', { timeout: 30_000 }, async (t) => {
  const { proxy, exporter } = await proxyAndExporter(t);
  const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'pushprox-client.js');
  const child = spawn(
    process.execPath,
    [bin, `--proxy-url=${proxy.url}`, `--fqdn=${FQDN}`, '--metrics-addr=', `--tls.cacert=${pki.file('proxy-ca.crt')}`,
      `--tls.cert=${pki.file('client.crt')}`, `--tls.key=${pki.file('client.key')}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  });
  await waitFor(() => proxy.polls.length >= 1, 10_000, 'the first poll').catch((e: Error) => assert.fail(`${e.message}\n${stderr}`));
  assert.equal(proxy.polls[0]?.peerCN, 'client-a');

  install('client-b');
  child.kill('SIGHUP');
  await waitFor(() => stderr.includes('Reloaded TLS files'), 10_000, 'the reload log line').catch((e: Error) => assert.fail(`${e.message}\n${stderr}`));
  assert.deepEqual(await scrapeOnce(proxy, exporter), { push: 'client-b', nextPoll: 'client-b' });
  assert.equal(child.exitCode, null, 'SIGHUP must not stop the client');
});
