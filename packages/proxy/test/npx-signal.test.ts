import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { childrenOf } from '@pushprox/shared/testing';

// dist/test/npx-signal.test.js → the repository root, whose node_modules/.bin has pushprox-proxy.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

const npxMissing = spawnSync('npx', ['--version'], { encoding: 'utf8', timeout: 30_000 }).status !== 0;

test('SIGTERM to `npx pushprox-proxy` stops the node program it started, not only npm', { skip: npxMissing && 'needs npx on PATH', timeout: 90_000 }, async (t) => {
  // npm starts the bin as `sh -c ...` and signals only that shell; Debian's dash dies and leaves the
  // program running unless the program follows its parent (npm-shell.ts). No --script-shell=bash here: that hides it.
  const env = { ...process.env };
  delete env['npm_config_script_shell'];
  const npx = spawn('npx', ['--no', '--prefix', ROOT, 'pushprox-proxy', '--web.listen-address=127.0.0.1:0'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  npx.stdout.on('data', (c: Buffer) => (output += c.toString()));
  npx.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const started = new Set<number>([npx.pid!]);
  t.after(() => {
    // Only the processes this test started, by PID.
    for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  const deadline = Date.now() + 60_000;
  while (!/msg=Listening/.test(output)) {
    if (Date.now() > deadline) throw new Error(`npx pushprox-proxy did not start within 60 s:\n${output}`);
    if (npx.exitCode !== null) throw new Error(`npx exited ${npx.exitCode} before the proxy listened:\n${output}`);
    await sleep(50);
  }
  // The node program is npx's child (a shell that execs) or grandchild (sh -c, as dash runs it).
  const descendants = childrenOf(npx.pid!).flatMap((c) => [c, ...childrenOf(c)]);
  for (const pid of descendants) started.add(pid);
  const program = descendants.find((pid) => /pushprox-proxy/.test(cmdline(pid)) && /node/.test(cmdline(pid)) && !/^sh |\/sh /.test(cmdline(pid)));
  assert.ok(program !== undefined, `no node pushprox-proxy under npx: ${descendants.map((p) => `${p}: ${cmdline(p)}`).join('; ')}`);
  t.diagnostic(`npx ${npx.pid} → ${descendants.map((p) => `${p} (${cmdline(p).slice(0, 40)})`).join(' → ')}`);

  const signalledAt = Date.now();
  process.kill(npx.pid!, 'SIGTERM');
  while (alive(program) && Date.now() - signalledAt < 20_000) await sleep(50);
  const tookMs = Date.now() - signalledAt;
  assert.ok(!alive(program), `the node program ${program} still runs 20 s after SIGTERM to npx:\n${output}`);
  t.diagnostic(`the node program exited ${tookMs} ms after SIGTERM to npx`);
  // Well within a supervisor's stop timeout (systemd's default is 90 s); generous for a loaded machine.
  assert.ok(tookMs < 10_000, `took ${tookMs} ms`);
  await sleep(200);
  assert.match(output, /msg="Shutting down" signal=SIGTERM/, 'the program shut down through its SIGTERM handler');
});
