import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startClient } from '../../src/index.js';
import { pollModeMessage } from '../../src/transport/poller.js';
import { FakeProxy, recordingLogger, testConfig, waitFor, type LogLine } from '../helpers.js';

// Protocol feature names an operator never configured; the start-up lines say what happens instead.
const INTERNAL_WORDS = /multi-poll|push-poll|max_poll_loops|push_poll/;

for (const [mode, pushPoll, expected] of [
  ['ours', false, /concurrent polls: keeping up to --scrape\.concurrency polls open$/],
  ['ours', true, /each pushed result also asks for the next scrape/],
] as const) {
  test(`the start-up line for our proxy${pushPoll ? ' with push-poll' : ''} is in the operator's words`, { timeout: 20_000 }, async (t) => {
    const proxy = await FakeProxy.start(mode);
    proxy.pushPoll = pushPoll;
    t.after(() => proxy.close());
    const lines: LogLine[] = [];
    const client = await startClient(testConfig(proxy.url, { scrapeConcurrency: 4 }), { logger: recordingLogger(lines) });
    try {
      await waitFor(() => lines.some((l) => l.level === 'info' && /^Proxy takes/.test(l.msg)), 10_000, 'the polling start-up line');
    } finally {
      await client.stop();
    }
    const line = lines.find((l) => l.level === 'info' && /^Proxy takes/.test(l.msg))!;
    assert.match(line.msg, expected);
    assert.equal(line.msg, pollModeMessage(true, pushPoll));
    assert.deepEqual(line.fields, { concurrent_polls: 4 });
    for (const l of lines.filter((x) => x.level === 'info')) {
      assert.doesNotMatch(`${l.msg} ${Object.keys(l.fields).join(' ')}`, INTERNAL_WORDS, `info line ${JSON.stringify(l)}`);
    }
  });
}

test('against an upstream proxy no info line uses protocol feature names', { timeout: 20_000 }, async (t) => {
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const lines: LogLine[] = [];
  const client = await startClient(testConfig(proxy.url), { logger: recordingLogger(lines) });
  try {
    await waitFor(() => proxy.polls.length >= 1, 10_000, 'a poll');
  } finally {
    await client.stop();
  }
  for (const l of lines.filter((x) => x.level === 'info')) {
    assert.doesNotMatch(`${l.msg} ${Object.keys(l.fields).join(' ')}`, INTERNAL_WORDS, `info line ${JSON.stringify(l)}`);
  }
  // Said when a proxy that took concurrent polls stops taking them (an upstream one took its place).
  assert.match(pollModeMessage(false, false), /^Proxy takes one poll at a time per client/);
});
