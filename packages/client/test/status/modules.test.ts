import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { Agent } from 'undici';
import { silentLogger, WireHeaders } from '@pushprox/shared';
import { ModuleHost } from '../../src/modules/host.js';
import { AbortToken } from '../../src/scraping/abort-token.js';
import type { ModuleResult } from '../../src/modules/types.js';
import { ModuleResultLog, modulesView, redactArgs } from '../../src/status/modules.js';

test('module arguments keep their shape with secret values redacted: --flag=value, --flag value, and userinfo in URLs', () => {
  assert.deepEqual(redactArgs(['--password=x', '--api-token', 'y', '--verbose', 'z', 'https://u:p@h/', '-v', '--secret', '--next']), [
    '--password=<redacted>',
    '--api-token',
    '<redacted>',
    '--verbose',
    'z',
    'https://<redacted>@h/',
    '-v',
    '--secret',
    '--next',
  ]);
});

test('the module result log keeps the last result per name, reasons cut to 512, and at most 1024 names', () => {
  let now = 1_000;
  const log = new ModuleResultLog(() => now);
  log.record({ name: 'a', status: 200, durationMs: 5 });
  now = 2_000;
  log.record({ name: 'a', status: 500, durationMs: 7, error: 'e'.repeat(10_000) });
  assert.equal(log.last('a')!.status, 500);
  assert.equal(log.last('a')!.error!.length, 512);
  assert.equal(log.last('a')!.at, 2_000);
  for (let i = 0; i < 1100; i++) log.record({ name: `m${i}`, status: 200, durationMs: 1 });
  assert.equal(log.last('a'), undefined, 'the least recently run name went first');
  assert.ok(log.last('m1099'));
});

test('the module host reports each run once its output ended: success, a non-2xx answer, bad output, a failure to start', { timeout: 20_000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pushprox-modresults-'));
  await writeFile(path.join(dir, 'good.prom'), 'up 1\n');
  await writeFile(path.join(dir, 'bad.prom'), 'up 1\n<b>not metrics</b>\n');
  const down = http.createServer((_req, res) => res.writeHead(503, 'Service Unavailable').end('down\n'));
  await new Promise<void>((r) => down.listen(0, '127.0.0.1', r));
  t.after(() => down.close());
  const file = path.join(dir, 'm.yaml');
  await writeFile(
    file,
    `modules:
  good: { method: file, file: { path: ${JSON.stringify(path.join(dir, 'good.prom'))} } }
  bad: { method: file, file: { path: ${JSON.stringify(path.join(dir, 'bad.prom'))} } }
  gone: { method: file, file: { path: ${JSON.stringify(path.join(dir, 'missing.prom'))} } }
  refused: { method: http, http: { port: 1 } }
  down: { method: http, http: { address: 127.0.0.1, port: ${(down.address() as AddressInfo).port} } }
`,
  );
  const results: ModuleResult[] = [];
  const targets = new Agent();
  t.after(() => targets.close());
  const host = await ModuleHost.start({ files: [file], dirs: [] }, { logger: silentLogger, registry: new Registry(), targets, onResult: (r) => results.push(r) });
  t.after(() => host.close());
  const run = async (name: string): Promise<void> => {
    try {
      const res = await host.answer({ kind: 'module', style: 'expexp', name, extraQuery: '', args: [] }, { headers: new WireHeaders([]), signal: new AbortToken(), budgetMs: 5_000 });
      for await (const _ of res.body) void _;
    } catch {
      // A module that fails, before or during its output, is reported all the same.
    }
  };
  for (const name of ['good', 'bad', 'gone', 'refused', 'down']) await run(name);
  const by = new Map(results.map((r) => [r.name, r]));
  assert.equal(results.length, 5);
  assert.equal(by.get('good')!.status, 200);
  assert.equal(by.get('good')!.error, undefined);
  assert.match(by.get('bad')!.error!, /^module bad: invalid metrics output at line 2: "<b>not metrics<\/b>"/);
  assert.equal(by.get('gone')!.status, 0);
  assert.match(by.get('gone')!.error!, /ENOENT|no such file/);
  assert.equal(by.get('refused')!.status, 0);
  assert.match(by.get('refused')!.error!, /ECONNREFUSED|connect/);

  assert.equal(by.get('down')!.status, 503);
  assert.equal(by.get('down')!.error, 'the module answered 503 Service Unavailable');

  const log = new ModuleResultLog();
  for (const r of results) log.record(r);
  const view = modulesView(host.set, log, host.lastReload);
  assert.deepEqual(view.list.map((m) => m.name), ['bad', 'down', 'gone', 'good', 'refused']);
  assert.equal(view.list.find((m) => m.name === 'refused')!.target, 'http://localhost:1/metrics');
  assert.equal(view.lastReload.ok, true);
  await writeFile(file, 'modules: [');
  await assert.rejects(host.reload());
  assert.equal(host.lastReload.ok, false);
  assert.match(host.lastReload.error!, /m\.yaml/);
});
