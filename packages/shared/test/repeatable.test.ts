import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinRepeated } from '../src/flags/repeatable.js';

test('a repeatable flag given several times becomes one comma-separated value at its first place', () => {
  const names = new Set(['proxy-url']);
  assert.deepEqual(joinRepeated(['--fqdn=h', '--proxy-url=http://a/', '--x', '--proxy-url', 'http://b/'], names), [
    '--fqdn=h',
    '--proxy-url=http://a/,http://b/',
    '--x',
  ]);
  assert.deepEqual(joinRepeated(['--proxy-url=http://a/', '--', '--proxy-url=x'], names), ['--proxy-url=http://a/', '--', '--proxy-url=x']);
  assert.deepEqual(joinRepeated(['--other=1', '--other=2'], names), ['--other=1', '--other=2'], 'other flags are left for the repeated-flag check');
});
