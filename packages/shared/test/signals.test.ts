import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signalPlan } from '../src/index.js';

test('POSIX: SIGTERM and SIGINT stop the program, SIGHUP reloads the TLS files', () => {
  for (const platform of ['linux', 'darwin', 'freebsd'] as const) {
    const plan = signalPlan(platform);
    assert.deepEqual([...plan.stop], ['SIGTERM', 'SIGINT'], platform);
    assert.equal(plan.reload, 'SIGHUP', platform);
  }
});

test('Windows: Ctrl-C (SIGINT), Ctrl-Break (SIGBREAK) and closing the console (SIGHUP) stop the client; nothing reloads', () => {
  const plan = signalPlan('win32');
  assert.deepEqual([...plan.stop], ['SIGINT', 'SIGBREAK', 'SIGHUP']);
  // No SIGTERM handler: Windows ends the process for it without running one, so listening would only promise what cannot happen.
  assert.equal(plan.stop.includes('SIGTERM'), false);
  // SIGHUP there means the console is closing, never "reload": it must stop, not re-read files.
  assert.equal(plan.reload, undefined);
});

test('the plans are frozen: no caller can add a signal for everyone', () => {
  assert.ok(Object.isFrozen(signalPlan('linux')) && Object.isFrozen(signalPlan('linux').stop));
  assert.ok(Object.isFrozen(signalPlan('win32')) && Object.isFrozen(signalPlan('win32').stop));
});
