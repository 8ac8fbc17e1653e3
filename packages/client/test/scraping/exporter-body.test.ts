import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { collectBody, ExporterBodyError } from '../../src/scraping/exporter-body.js';

const HEAD = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n');

test('collectBody returns the head and every chunk of a body of the declared length, and counts the bytes', async () => {
  const body = new PassThrough();
  const counted: number[] = [];
  const parts = collectBody(HEAD, 6, body, (n) => counted.push(n));
  body.write('abc');
  body.end('def');
  assert.deepEqual(Buffer.concat(await parts), Buffer.concat([HEAD, Buffer.from('abcdef')]));
  assert.deepEqual(counted, [3, 3]);
});

test('collectBody refuses a body that ends short, says how far it got, and never hangs on one destroyed before or while it is read', async () => {
  const short = new PassThrough();
  const p1 = collectBody(HEAD, 6, short);
  short.end('abc');
  await assert.rejects(p1, (err: Error) => err instanceof ExporterBodyError && /ended after 3 of 6 bytes: the connection ended/.test(err.message));

  const cut = new PassThrough();
  const p2 = collectBody(HEAD, 6, cut);
  cut.write('ab');
  await new Promise((r) => setImmediate(r));
  cut.destroy();
  await assert.rejects(p2, /ended after 2 of 6 bytes: premature close/);

  const broken = new PassThrough();
  const p3 = collectBody(HEAD, 6, broken);
  broken.destroy(new Error('socket hang up'));
  await assert.rejects(p3, /ended after 0 of 6 bytes: socket hang up/);

  const gone = new PassThrough();
  gone.destroy();
  await assert.rejects(collectBody(HEAD, 6, gone), /ended after 0 of 6 bytes/);
});

test('collectBody refuses a body longer than its Content-Length and stops reading it', async () => {
  const body = new PassThrough();
  const p = collectBody(HEAD, 6, body);
  body.write('abcdefg');
  await assert.rejects(p, /more than its Content-Length of 6 bytes/);
  assert.equal(body.destroyed, true);
});
