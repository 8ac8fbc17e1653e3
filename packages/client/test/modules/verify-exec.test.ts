import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '@pushprox/shared';
import { checkLine, VerifyStream, VERIFY_HOLD_BYTES } from '../../src/modules/verify.js';
import { ExecRunner } from '../../src/modules/exec-runner.js';
import type { ExecModule } from '../../src/modules/types.js';
import { waitFor } from '../helpers.js';

test('checkLine accepts text 0.0.4 and OpenMetrics 1.0 lines', () => {
  const good = [
    '',
    '# HELP http_requests_total The total number of HTTP requests.',
    '# TYPE http_requests_total counter',
    '# UNIT request_seconds seconds',
    '# any comment',
    '# EOF',
    'http_requests_total{method="post",code="200"} 1027 1395066363000',
    'http_requests_total{method="post",code="400",} 3',
    'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9',
    'metric_without_timestamp_and_labels 12.47',
    'something_weird{problem="division by zero"} +Inf -3982045',
    'nan_value NaN',
    'x -Inf',
    'rpc_duration_seconds{quantile="0.5"} 4773',
    'foo_bucket{le="0.1"} 8 # {id="abc"} 0.067 1520879607.789',
    '{"my.metric",job="a"} 1',
    'ts_float 1 1520879607.789',
  ];
  for (const line of good) assert.equal(checkLine(line), undefined, line);
  const bad = ['this is not a metric', 'name', 'name{a="b"}', 'name{a=b} 1', 'name 1 2 3', '1name 3', 'name{a="b} 1', '# TYPE name blah', '# TYPE', '<html>'];
  for (const line of bad) assert.notEqual(checkLine(line), undefined, line);
});

async function verified(chunks: string[]): Promise<string> {
  let out = '';
  await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), new VerifyStream('m'), async function* (src) {
    for await (const c of src) out += (c as Buffer).toString();
  });
  return out;
}

test('VerifyStream passes valid output through unchanged, across any chunk boundaries', async () => {
  const text = '# TYPE a gauge\na{x="1"} 1\nb 2\n';
  for (let cut = 1; cut < text.length; cut++) assert.equal(await verified([text.slice(0, cut), text.slice(cut)]), text);
  assert.equal(await verified(['a 1']), 'a 1', 'a last line without a newline');
});

test('VerifyStream fails on the first bad line, naming it; and on text after # EOF', async () => {
  await assert.rejects(verified(['a 1\n', 'b 2\nnot valid\n']), /module m: invalid metrics output at line 3: "not valid"/);
  await assert.rejects(verified(['a 1\n# EOF\nb 2\n']), /line 3: "b 2": text after "# EOF"/);
});

test('VerifyStream holds the first bytes back, then streams: a late bad line errors the stream after output was passed on', async () => {
  const line = 'x 1\n';
  const big = line.repeat(Math.ceil((VERIFY_HOLD_BYTES * 2) / line.length));
  const v = new VerifyStream('m');
  let got = 0;
  v.on('data', (c: Buffer) => (got += c.length));
  const err = await new Promise<Error>((resolve) => {
    v.on('error', resolve);
    v.write(Buffer.from(big));
    v.write(Buffer.from('bad line\n'));
  });
  assert.ok(got >= VERIFY_HOLD_BYTES, `passed on ${got} bytes before the error`);
  assert.match(err.message, /bad line/);
});

const NODE = process.execPath;

function execModule(command: string, args: string[], extra: Partial<ExecModule> = {}): ExecModule {
  return { name: 'x', style: 'expexp', source: 't', timeoutMs: 0, verify: true, method: 'exec', command, args, env: {}, ...extra };
}

test('exec writing without end (1 GB would follow): when the reader stops, the process group is killed', { timeout: 20_000 }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pushprox-exec-'));
  const script = path.join(dir, 'flood.js');
  await writeFile(
    script,
    `require('fs').writeFileSync(${JSON.stringify(path.join(dir, 'pid'))}, String(process.pid));
     const chunk = Buffer.from('flood_metric 1\\n'.repeat(4096));
     let sent = 0;
     function go() { while (sent < 1024 ** 3) { sent += chunk.length; if (!process.stdout.write(chunk)) return process.stdout.once('drain', go); } }
     go();`,
  );
  const ctl = new AbortController();
  const res = await new ExecRunner().run(execModule(NODE, [script]), { extraArgs: [], signal: ctl.signal, logger: silentLogger });
  let read = 0;
  const limit = 8 * 1024 * 1024;
  await new Promise<void>((resolve) => {
    res.body.on('data', (c: Buffer) => {
      read += c.length;
      // The push limit cut the body: the consumer destroys it.
      if (read > limit) res.body.destroy();
    });
    res.body.on('close', resolve);
    res.body.on('error', () => undefined);
  });
  const pid = Number(await readFile(path.join(dir, 'pid'), 'utf8'));
  await waitFor(() => !alive(pid), 3000, 'flooding command killed');
  assert.ok(read < 64 * 1024 * 1024, `read ${read} bytes, bounded`);
});

test('exec concurrency is bounded: a run waits for a slot, and gives up when its signal aborts', { timeout: 20_000 }, async () => {
  const runner = new ExecRunner(1);
  const sleeper = execModule('sleep', ['30']);
  const first = new AbortController();
  const a = await runner.run(sleeper, { extraArgs: [], signal: first.signal, logger: silentLogger });
  a.body.on('error', () => undefined);
  const second = new AbortController();
  const waiting = runner.run(execModule('echo', ['x 1']), { extraArgs: [], signal: second.signal, logger: silentLogger });
  setTimeout(() => second.abort(new Error('deadline')), 200);
  await assert.rejects(waiting, /no command slot before the deadline/);
  first.abort(new Error('stop'));
  await new Promise((r) => a.body.once('close', r));
  const third = await runner.run(execModule('echo', ['y 1']), { extraArgs: [], signal: new AbortController().signal, logger: silentLogger });
  let text = '';
  for await (const c of third.body) text += (c as Buffer).toString();
  assert.equal(text, 'y 1\n');
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('exec: a command that exits but leaves a child holding its output is killed with its group when the reader stops', { timeout: 20_000 }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pushprox-exec-orphan-'));
  const script = path.join(dir, 'orphan.sh');
  // The shell starts a writer in its group, then exits 0 at once; the writer keeps stdout open.
  await writeFile(script, `#!/bin/sh\n(echo $$ > ${path.join(dir, 'sh.pid')}; exec yes 'orphan_metric 1') &\necho $! > ${path.join(dir, 'child.pid')}\nexit 0\n`, { mode: 0o755 });
  const res = await new ExecRunner().run(execModule(script, []), { extraArgs: [], signal: new AbortController().signal, logger: silentLogger });
  res.body.on('error', () => undefined);
  let read = 0;
  await new Promise<void>((resolve) => {
    res.body.on('data', (c: Buffer) => {
      read += c.length;
      if (read > 1024 * 1024) res.body.destroy();
    });
    res.body.on('close', resolve);
  });
  const child = Number((await readFile(path.join(dir, 'child.pid'), 'utf8')).trim());
  await waitFor(() => !alive(child), 3000, `orphaned writer ${child} killed`);
});
