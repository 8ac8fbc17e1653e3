import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { CLIENT_BIN, killAll, Proc, startProxyProc } from '../src/procs.js';
import { waitRegistered } from '../src/proxy-api.js';

/**
 * An idle client costs no CPU (issue #5): with no scrape to run, neither
 * program's event loop may be woken by a timer of its own many times a
 * second. prom-client's event-loop-delay histogram did that every 10 ms.
 */

after(killAll);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Times the process's main thread (the event loop) went to sleep and was woken. */
function mainThreadWakeups(p: Proc): number {
  const status = readFileSync(`/proc/${p.pid}/task/${p.pid}/status`, 'utf8');
  const m = /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status);
  if (!m) throw new Error(`no voluntary_ctxt_switches in /proc/${p.pid}/task/${p.pid}/status`);
  return Number(m[1]);
}

const WINDOW_MS = 3000;
/**
 * Wake-ups a second, counted over the window as it really lasted (a loaded machine stretches
 * the sleep). A loop woken every 10 ms shows ~100 a second; an idle one ~3. The bound sits
 * between by a factor of 4 on each side, so load does not reach it and the 10 ms timer does.
 */
const MAX_WAKEUPS_PER_S = 25;

test('an idle proxy and client do not wake their event loops more than a few times a second', async () => {
  const proxy = await startProxyProc();
  // Metrics served, as by default: the process metrics are what kept the loop busy.
  const client = new Proc('pushprox-client', process.execPath, [CLIENT_BIN, `--proxy-url=${proxy.url}`, '--fqdn=127.0.0.1', '--metrics-addr=127.0.0.1:0']);
  try {
    await waitRegistered(proxy.url, '127.0.0.1', { client });
    // Startup work (module compilation, the first GCs) settles first.
    await sleep(2000);
    const before = { proxy: mainThreadWakeups(proxy), client: mainThreadWakeups(client), at: performance.now() };
    await sleep(WINDOW_MS);
    const woken = { proxy: mainThreadWakeups(proxy) - before.proxy, client: mainThreadWakeups(client) - before.client };
    const seconds = (performance.now() - before.at) / 1000;
    const max = Math.round(MAX_WAKEUPS_PER_S * seconds);
    assert.ok(woken.client <= max, `idle client's event loop woke ${woken.client} times in ${seconds.toFixed(2)} s (at most ${max})`);
    assert.ok(woken.proxy <= max, `idle proxy's event loop woke ${woken.proxy} times in ${seconds.toFixed(2)} s (at most ${max})`);
  } finally {
    await Promise.all([client.stop(), proxy.stop()]);
  }
});
