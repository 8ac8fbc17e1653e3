import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createLogger } from '../src/runtime/log.js';

function capture(format: 'logfmt' | 'json', level: 'debug' | 'info' = 'info') {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter(Boolean)));
  return { logger: createLogger({ format, level, stream }), lines };
}

const tick = () => new Promise((r) => setImmediate(r));

test('logfmt lines look like Prometheus logs and quote values that need it', async () => {
  const { logger, lines } = capture('logfmt');
  logger.info('Listening', { address: '127.0.0.1:8080', note: 'has space', empty: '' });
  await tick();
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^ts=\d{4}-\d\d-\d\dT[\d:.]+Z level=info msg=Listening address=127\.0\.0\.1:8080 note="has space" empty=""$/);
});

test('json format writes one object per line', async () => {
  const { logger, lines } = capture('json');
  logger.warn('Bad poll', { err: new Error('boom') });
  await tick();
  const obj = JSON.parse(lines[0]!);
  assert.equal(obj.level, 'warn');
  assert.equal(obj.msg, 'Bad poll');
  assert.equal(obj.err, 'boom');
});

test('debug lines are dropped at info level and written at debug level', async () => {
  const info = capture('logfmt', 'info');
  info.logger.debug('per-scrape line');
  assert.equal(info.logger.debugEnabled, false);
  const debug = capture('logfmt', 'debug');
  debug.logger.debug('per-scrape line', { scrape_id: 'x' });
  await tick();
  assert.equal(info.lines.length, 0);
  assert.equal(debug.lines.length, 1);
  assert.match(debug.lines[0]!, /level=debug msg="per-scrape line" scrape_id=x/);
});

test('child loggers carry their fields', async () => {
  const { logger, lines } = capture('logfmt');
  logger.child({ component: 'poller' }).error('failed');
  await tick();
  assert.match(lines[0]!, /level=error msg=failed component=poller/);
});
