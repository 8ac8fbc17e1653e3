import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/ports.js';
import { childrenOf } from '@pushprox/shared/testing';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const LABELS = ['demo', 'pushprox-proxy', 'pushprox-client'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

test('npm run demo labels every line with the program that wrote it, and stops both programs on SIGINT', { timeout: 90_000 }, async (t) => {
  const [proxyPort, exporterPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const demo = spawn(process.execPath, [path.join(ROOT, 'scripts', 'demo.mjs')], {
    cwd: ROOT,
    env: {
      ...process.env,
      DEMO_PROXY_ADDR: `127.0.0.1:${proxyPort}`,
      DEMO_EXPORTER_PORT: String(exporterPort),
      DEMO_CLIENT_METRICS_PORT: String(metricsPort),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  demo.stdout.on('data', (c: Buffer) => (output += c.toString()));
  demo.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const started = new Set<number>([demo.pid!]);
  t.after(() => {
    for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  const deadline = Date.now() + 60_000;
  while (!/Ctrl-C stops the demo/.test(output)) {
    assert.equal(demo.exitCode, null, `the demo exited:\n${output}`);
    assert.ok(Date.now() < deadline, `the demo was not ready within 60 s:\n${output}`);
    await sleep(50);
  }
  const programs = childrenOf(demo.pid!);
  for (const pid of programs) started.add(pid);
  assert.equal(programs.length, 2, `the demo runs the proxy and the client: ${programs.join(', ')}`);

  const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
  process.kill(demo.pid!, 'SIGINT');
  const code = await Promise.race([exited, sleep(20_000).then(() => 'timeout' as const)]);
  assert.equal(code, 0, `the demo's exit on SIGINT:\n${output}`);
  for (const pid of programs) assert.ok(!alive(pid), `program ${pid} still runs after the demo stopped`);

  const lines = output.split('\n').filter((l) => l !== '');
  for (const line of lines) {
    const label = /^(\S+)\s+\| /.exec(line)?.[1];
    assert.ok(label !== undefined && LABELS.includes(label), `unlabelled line: ${JSON.stringify(line)}`);
  }
  assert.ok(lines.some((l) => /^pushprox-proxy\s+\| .*msg=Listening/.test(l)), output);
  assert.ok(lines.some((l) => /^pushprox-client\s+\| .*msg="URL and FQDN info"/.test(l)), output);
  assert.ok(lines.some((l) => /^demo\s+\| scrape through the proxy: HTTP 200/.test(l)), output);
  // Both programs' shutdown lines are relayed before the demo exits.
  assert.ok(lines.some((l) => /^pushprox-proxy\s+\| .*msg="Shutting down"/.test(l)), output);
  assert.ok(lines.some((l) => /^pushprox-client\s+\| .*msg="Shutdown complete"/.test(l)), output);
});
