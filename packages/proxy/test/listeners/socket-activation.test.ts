import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inheritedListeners } from '../../src/listeners/socket-activation.js';

/** sd_listen_fds(3) semantics of --web.systemd-socket; the process-level drill is e2e/test/restart-drill.test.ts. */

test('one socket from systemd serves both roles; the variables are removed so no child takes them', () => {
  const env: NodeJS.ProcessEnv = { LISTEN_FDS: '1', LISTEN_PID: '42', LISTEN_FDNAMES: 'web', KEEP: 'x' };
  assert.deepEqual(inheritedListeners(env, 42), { main: { fd: 3, name: 'web' }, client: undefined });
  assert.deepEqual(env, { KEEP: 'x' });
});

test('two sockets: the one named "client" is the client listener, whatever its order; unnamed, the second is', () => {
  assert.deepEqual(inheritedListeners({ LISTEN_FDS: '2', LISTEN_PID: '7', LISTEN_FDNAMES: 'client:scrape' }, 7), {
    main: { fd: 4, name: 'scrape' },
    client: { fd: 3, name: 'client' },
  });
  assert.deepEqual(inheritedListeners({ LISTEN_FDS: '2', LISTEN_PID: '7' }, 7), {
    main: { fd: 3, name: 'unknown' },
    client: { fd: 4, name: 'unknown' },
  });
});

test('sockets meant for another process, missing, or not one or two are refused, saying what was expected and what arrived', () => {
  assert.throws(() => inheritedListeners({ LISTEN_FDS: '1', LISTEN_PID: '8' }, 9), /expected LISTEN_PID=9 \(this process\), got "8"/);
  assert.throws(() => inheritedListeners({}, 9), /expected LISTEN_FDS and LISTEN_PID from systemd, got no LISTEN_FDS/);
  assert.throws(() => inheritedListeners({ LISTEN_FDS: '3', LISTEN_PID: '9' }, 9), /expected LISTEN_FDS=1 .* or 2 .*, got "3"/);
  assert.throws(() => inheritedListeners({ LISTEN_FDS: 'x', LISTEN_PID: '9' }, 9), /got "x"/);
});
