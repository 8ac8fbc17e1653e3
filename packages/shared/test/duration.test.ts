import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from '../src/flags/duration.js';
import { parseByteSize } from '../src/flags/size.js';
import { parseListenAddress } from '../src/flags/address.js';

test('parseDuration accepts Go syntax', () => {
  const cases: Array<[string, number]> = [
    ['0', 0],
    ['15s', 15_000],
    ['5m', 300_000],
    ['1h2m3.5s', 3_723_500],
    ['100ms', 100],
    ['300us', 0.3],
    ['300µs', 0.3],
    ['300μs', 0.3],
    ['1500ns', 0.0015],
    ['.5s', 500],
    ['1.s', 1000],
    ['-1m', -60_000],
    ['+2h', 7_200_000],
    ['1h1h', 7_200_000],
  ];
  for (const [input, ms] of cases) assert.equal(parseDuration(input), ms, input);
});

test('parseDuration rejects what Go rejects, saying what was expected and what arrived', () => {
  for (const bad of ['', '15', '1x', 's', '.s', '1.5', 'abc', '1m ', ' 1m', '1d', '-', '1e3s', '1,5s']) {
    assert.throws(
      () => parseDuration(bad),
      (err: Error) => err.message.includes('expected a Go duration') && err.message.includes(JSON.stringify(bad)),
      bad,
    );
  }
});

test('formatDuration writes Go Duration.String forms', () => {
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(15_000), '15s');
  assert.equal(formatDuration(300_000), '5m0s');
  assert.equal(formatDuration(3_723_500), '1h2m3.5s');
  assert.equal(formatDuration(100), '100ms');
  assert.equal(formatDuration(-1500), '-1.5s');
});

test('parseByteSize uses 1024-based units like Prometheus', () => {
  assert.equal(parseByteSize('512MB'), 512 * 1024 * 1024);
  assert.equal(parseByteSize('64KiB'), 65536);
  assert.equal(parseByteSize('1048576'), 1048576);
  assert.equal(parseByteSize('1gb'), 1024 ** 3);
  assert.throws(() => parseByteSize('12 parsecs'), /expected a byte size/);
  assert.throws(() => parseByteSize('-5MB'), /expected a byte size/);
});

test('parseListenAddress takes Go host:port forms', () => {
  assert.deepEqual(parseListenAddress(':8080'), { host: undefined, port: 8080 });
  assert.deepEqual(parseListenAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseListenAddress('[::1]:9369'), { host: '::1', port: 9369 });
  assert.deepEqual(parseListenAddress('localhost:80'), { host: 'localhost', port: 80 });
  for (const bad of ['8080', ':99999', 'host', '::1:80', 'a:b']) {
    assert.throws(() => parseListenAddress(bad), /expected host:port/, bad);
  }
});

test('repeatedFlags finds flags given twice, in either syntax', async () => {
  const { repeatedFlags } = await import('../src/flags/cli.js');
  assert.deepEqual(repeatedFlags(['--fqdn=a', '--proxy-url', 'x', '--fqdn', 'b']), ['fqdn']);
  assert.deepEqual(repeatedFlags(['--fqdn=a', '--', '--fqdn=b']), []);
  assert.deepEqual(repeatedFlags(['--a=1', '--b=2']), []);
});
