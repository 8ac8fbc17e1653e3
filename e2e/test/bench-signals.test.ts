import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Proc } from '../src/procs.js';

/**
 * A bench run stopped with a signal (an operator's Ctrl-C, systemd's or
 * timeout's SIGTERM, a closed terminal's SIGHUP) takes the processes it
 * started with it, instead of leaving proxies, clients and Prometheus running.
 */

const PROCS_MODULE = fileURLToPath(new URL('../src/procs.js', import.meta.url));

// A program that starts two long-running children through Proc, as the bench
// entry points do, prints their PIDs, then waits to be signalled.
const RUNNER = `
import { Proc, stopChildrenOnSignals } from ${JSON.stringify(PROCS_MODULE)};
stopChildrenOnSignals(() => console.log('saved'));
const kids = [1, 2].map((i) => new Proc('sleeper ' + i, process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)']));
console.log('kids ' + kids.map((k) => k.pid).join(' '));
setInterval(() => {}, 1 << 30);
`;

/** Running: in /proc and not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !alive(pid);
}

for (const [sig, code] of [['SIGTERM', 143], ['SIGINT', 130], ['SIGHUP', 129]] as const) {
  test(`${sig} to a bench run stops the processes it started, saves first, and exits with ${code}`, async () => {
    const runner = new Proc('bench runner', process.execPath, ['--input-type=module', '-e', RUNNER]);
    const m = await runner.waitFor(/kids (\d+) (\d+)\n/);
    const kids = [Number(m[1]), Number(m[2])];
    for (const pid of kids) assert.ok(alive(pid), `child ${pid} runs before the signal`);
    runner.signal(sig);
    const exit = await runner.exited;
    assert.deepEqual(exit, { code, signal: null }, `runner output:\n${runner.output}`);
    assert.match(runner.output, /saved/);
    for (const pid of kids) assert.ok(await waitGone(pid, 5_000), `child ${pid} still runs after the runner got ${sig}`);
  });
}
