import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { anonSplitOf } from '../bench/procstat.js';
import { killAll, Proc } from '../src/procs.js';

/**
 * The bench's memory split (rss-soak) tells V8's heap from the malloc arenas
 * of other threads, on real processes: what a process allocates shows up in
 * the place it was allocated.
 */

after(killAll);

const MB = 1024 * 1024;
const HOLD = 'console.log("ready"); setInterval(() => {}, 1 << 30);';

async function splitOf(script: string): Promise<ReturnType<typeof anonSplitOf>> {
  const p = new Proc('procstat subject', process.execPath, ['-e', script]);
  await p.waitFor(/ready/, 20_000);
  const split = anonSplitOf(p.pid);
  await p.stop('SIGKILL');
  return split;
}

test('V8 heap growth is counted as v8, and small mallocs on a worker thread as arena', async () => {
  const bare = await splitOf(HOLD);
  // About 40 MB of small JS objects, kept alive.
  const heap = await splitOf(`globalThis.keep = Array.from({ length: 400_000 }, (_, i) => ({ i, s: 'x' + i })); ${HOLD}`);
  // 24 MB in 6,000 ArrayBuffers of 4 KiB, allocated and kept by a worker thread: malloc from
  // that thread, under glibc's mmap threshold, so in its arena.
  const worker = await splitOf(
    `const { Worker } = require('node:worker_threads');
     const w = new Worker("globalThis.keep = Array.from({ length: 6000 }, () => new Uint8Array(4096).fill(1)); require('node:worker_threads').parentPort.postMessage(1); setInterval(() => {}, 1 << 30);", { eval: true });
     w.once('message', () => { ${HOLD} });`,
  );
  const mb = (x: number) => (x / MB).toFixed(1);
  const show = (s: ReturnType<typeof anonSplitOf>) => Object.entries(s).map(([k, v]) => `${k} ${mb(v)}`).join(', ');
  assert.ok(heap.v8 - bare.v8 > 20 * MB, `V8 heap: bare ${show(bare)}; with objects ${show(heap)}`);
  assert.ok(Math.abs(heap.arena - bare.arena) < 8 * MB, `arenas should not carry JS objects: bare ${show(bare)}; with objects ${show(heap)}`);
  assert.ok(worker.arena - bare.arena > 16 * MB, `arenas: bare ${show(bare)}; with a worker's buffers ${show(worker)}`);
  assert.ok(worker.brk - bare.brk < 8 * MB, `the main arena should not carry a worker's buffers: bare ${show(bare)}; worker ${show(worker)}`);
});
