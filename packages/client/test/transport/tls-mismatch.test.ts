import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startClient } from '../../src/index.js';
import { describeProxyError, PLAIN_PROXY_HINT } from '../../src/transport/proxy-error.js';
import { FakeProxy, recordingLogger, testConfig, waitFor, type LogLine } from '../helpers.js';

test('a client given https:// for a plain-HTTP proxy logs what to do, not OpenSSL\'s "wrong version number"', { timeout: 20_000 }, async (t) => {
  for (const mode of ['upstream', 'ours'] as const) {
    const proxy = await FakeProxy.start(mode);
    t.after(() => proxy.close());
    const lines: LogLine[] = [];
    const client = await startClient(testConfig(proxy.url.replace(/^http:/, 'https:'), { retryInitialWaitMs: 100, retryMaxWaitMs: 200 }), {
      logger: recordingLogger(lines),
    });
    try {
      await waitFor(() => lines.some((l) => l.msg === 'Error polling'), 10_000, `an "Error polling" line (${mode})`);
    } finally {
      await client.stop();
    }
    const err = String(lines.find((l) => l.msg === 'Error polling')!.fields['err']);
    assert.ok(err.startsWith(PLAIN_PROXY_HINT), `${mode}: ${err}`);
    assert.match(err, /use http:\/\/ in --proxy-url or enable TLS on the proxy/);
    assert.doesNotMatch(err, /wrong version number|ssl3_get_record/);
  }
});

test('describeProxyError finds the TLS mismatch in a cause or an AggregateError, and leaves other errors as they are', () => {
  const tls = Object.assign(new Error('0A00010B:SSL routines:ssl3_get_record:wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' });
  assert.ok(describeProxyError(tls).startsWith(PLAIN_PROXY_HINT));
  assert.ok(describeProxyError(new TypeError('fetch failed', { cause: tls })).startsWith(PLAIN_PROXY_HINT));
  assert.ok(describeProxyError(new AggregateError([new Error('x'), tls], '')).startsWith(PLAIN_PROXY_HINT));
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  assert.equal(describeProxyError(refused), 'connect ECONNREFUSED 127.0.0.1:1');
});
