import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { ERROR_CODES, PushProxError } from '@pushprox/shared';
import { startClient, TokenFile } from '../../src/index.js';
import { FakeProxy, FQDN, METRICS_TEXT, scrapeRequest, startExporter } from '../helpers.js';
import { configFromFlags, Pki } from '../tls-helpers.js';

const pki = new Pki();
after(() => pki.remove());

test('--token-path: targets get the file as a bearer token, re-read when it changes; a request\'s own Authorization wins; a deleted file is a pushed error naming it', { timeout: 30_000 }, async (t) => {
  const tokenFile = pki.file('token');
  writeFileSync(tokenFile, '  first-token\n');
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const exporter = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => exporter.close());
  const client = await startClient(await configFromFlags(proxy.url, [`--token-path=${tokenFile}`]), { env: {} });
  t.after(() => client.stop());
  const target = `http://${FQDN}:${exporter.port}/metrics`;
  const scrape = async (extraHeaders: ReadonlyArray<readonly [string, string]> = []) => {
    const { bytes, id } = scrapeRequest({ target, extraHeaders });
    proxy.scrape(bytes);
    return (await proxy.waitPush(id, 10_000)).parsed;
  };

  assert.equal((await scrape()).head.status, 200);
  assert.equal(exporter.requests.at(-1)?.headers.authorization, 'Bearer first-token');

  writeFileSync(tokenFile, 'second-token-rotated\n');
  assert.equal((await scrape()).head.status, 200);
  assert.equal(exporter.requests.at(-1)?.headers.authorization, 'Bearer second-token-rotated');

  // Prometheus' own authorization for the target is kept, not overridden.
  assert.equal((await scrape([['Authorization', 'Bearer from-prometheus']])).head.status, 200);
  assert.equal(exporter.requests.at(-1)?.headers.authorization, 'Bearer from-prometheus');
  assert.equal(exporter.requests.at(-1)?.rawHeaders.filter((h) => h.toLowerCase() === 'authorization').length, 1);

  rmSync(tokenFile);
  const seen = exporter.requests.length;
  const failed = await scrape();
  assert.equal(failed.head.status, 500);
  assert.ok(failed.body.toString().includes(`--token-path file ${JSON.stringify(tokenFile)}`), failed.body.toString());
  assert.match(failed.body.toString(), /ENOENT/);
  assert.equal(exporter.requests.length, seen, 'no scrape without the token');

  // The client keeps running: a restored file works again.
  writeFileSync(tokenFile, 'third-token');
  assert.equal((await scrape()).head.status, 200);
  assert.equal(exporter.requests.at(-1)?.headers.authorization, 'Bearer third-token');
});

test('TokenFile caches by mtime and size: an unchanged stat means no re-read', async () => {
  const file = pki.file('cached-token');
  const then = new Date('2024-01-01T00:00:00Z');
  writeFileSync(file, 'aaaa');
  utimesSync(file, then, then);
  const token = new TokenFile(file);
  assert.equal(await token.authorization(), 'Bearer aaaa');
  const ino = statSync(file).ino;
  // Same size, same inode, mtime put back: the cached value is served.
  writeFileSync(file, 'bbbb');
  utimesSync(file, then, then);
  assert.equal(statSync(file).ino, ino);
  assert.equal(await token.authorization(), 'Bearer aaaa');
  const later = new Date(then.getTime() + 5000);
  utimesSync(file, later, later);
  assert.equal(await token.authorization(), 'Bearer bbbb');
});

test('--token-path unreadable or empty at startup is CONFIG_INVALID naming the flag and the file', async () => {
  const missing = pki.file('no-such-token');
  await assert.rejects(configFromFlags('http://127.0.0.1:1', [`--token-path=${missing}`]), (err: unknown) => {
    assert.ok(err instanceof PushProxError);
    assert.equal(err.code, ERROR_CODES.CONFIG_INVALID);
    assert.ok(err.message.includes(`--token-path file ${JSON.stringify(missing)}`), err.message);
    return true;
  });
  const empty = pki.file('empty-token');
  writeFileSync(empty, ' \n');
  await assert.rejects(configFromFlags('http://127.0.0.1:1', [`--token-path=${empty}`]), /--token-path file .*empty-token.*empty, expected a bearer token/);
});
