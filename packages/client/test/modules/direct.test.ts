import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { startClient } from '../../src/index.js';
import { FakeProxy, METRICS_TEXT, startExporter, testConfig, waitFor } from '../helpers.js';
import { Pki } from '../tls-helpers.js';

const bcrypt = createRequire(import.meta.url)('bcryptjs') as { hashSync(p: string, rounds: number): string };

async function directRig(t: { after(fn: () => unknown): void }, web: { configFile?: string; lifecycle?: boolean } = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pushprox-direct-'));
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const exporter = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => exporter.close());
  const late = path.join(dir, 'late.js');
  // 400 KB of valid lines (past the verification hold-back), then a bad one: the head is already sent.
  await writeFile(late, `#!${process.execPath}\nprocess.stdout.write('ok_metric 1\\n'.repeat(40000) + 'bad line\\n');\n`, { mode: 0o755 });
  const config = path.join(dir, 'expexp.yaml');
  await writeFile(config, `modules:\n  node: { method: http, http: { port: ${exporter.port} } }\n  late: { method: exec, exec: { command: ${JSON.stringify(late)} } }\n`);
  const client = await startClient(
    testConfig(proxy.url, {
      modules: { files: [config], dirs: [] },
      web: { listen: { host: '127.0.0.1', port: 0 }, configFile: web.configFile, lifecycle: web.lifecycle ?? false },
    }),
    { env: {} },
  );
  t.after(() => client.stop());
  return { dir, config, exporter, client, port: client.webAddress!.port };
}

async function get(url: string, opts: { method?: string; headers?: Record<string, string>; dispatcher?: Agent } = {}) {
  const res = await request(url, { method: (opts.method ?? 'GET') as 'GET', headers: opts.headers ?? {}, ...(opts.dispatcher && { dispatcher: opts.dispatcher }) });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

test('direct mode serves /proxy?module=, / and /prometheus as exporter_exporter and the agent do; /-/reload needs --web.enable-lifecycle', { timeout: 30_000 }, async (t) => {
  const { port, config, exporter } = await directRig(t);
  const base = `http://127.0.0.1:${port}`;
  const node = await get(`${base}/proxy?module=node`);
  assert.equal(node.status, 200);
  assert.equal(node.text, METRICS_TEXT);
  assert.equal((await get(`${base}/proxy?module=nope`)).text, 'unknown module [nope]\n\n');
  assert.equal((await get(`${base}/prometheus?exporter=nope`)).text, 'Unknown exporter');
  assert.deepEqual(JSON.parse((await get(`${base}/`, { headers: { accept: 'application/json' } })).text), { late: { method: 'exec', timeout: 0 }, node: { method: 'http', timeout: 0 } });
  assert.deepEqual(JSON.parse((await get(`${base}/prometheus`)).text), ['late', 'node']);
  assert.match((await get(`${base}/metrics`)).text, /pushprox_client_config_last_reload_successful 1/);
  assert.equal((await get(`${base}/etc/passwd`)).status, 404);
  await writeFile(config, `modules:\n  again: { method: http, http: { port: ${exporter.port} } }\n`);
  const refused = await get(`${base}/-/reload`, { method: 'POST' });
  assert.equal(refused.status, 403);
  assert.equal((await get(`${base}/prometheus`)).text, '["late","node"]');
});

test('direct mode: POST /-/reload re-reads the modules; a bad file answers 500 and keeps them', { timeout: 30_000 }, async (t) => {
  const { port, config, exporter } = await directRig(t, { lifecycle: true });
  const base = `http://127.0.0.1:${port}`;
  await writeFile(config, `modules:\n  again: { method: http, http: { port: ${exporter.port} } }\n`);
  assert.equal((await get(`${base}/-/reload`, { method: 'GET' })).status, 405);
  assert.equal((await get(`${base}/-/reload`, { method: 'POST' })).status, 200);
  assert.equal((await get(`${base}/proxy?module=again`)).text, METRICS_TEXT);
  await writeFile(config, 'modules: [');
  const bad = await get(`${base}/-/reload`, { method: 'POST' });
  assert.equal(bad.status, 500);
  assert.match(bad.text, /failed to reload config: .*not valid YAML/);
  assert.equal((await get(`${base}/proxy?module=again`)).status, 200);
  assert.match((await get(`${base}/metrics`)).text, /pushprox_client_config_last_reload_successful 0/);
});

test('direct mode: output that turns invalid after the head was sent is cut, never a complete 200', { timeout: 30_000 }, async (t) => {
  const { port } = await directRig(t);
  const res = await request(`http://127.0.0.1:${port}/proxy?module=late`);
  assert.equal(res.statusCode, 200);
  await assert.rejects(res.body.text(), /terminated|other side closed|premature|aborted/i);
});

test('direct mode with --web.config.file: TLS and basic auth as on the proxy', { timeout: 60_000 }, async (t) => {
  const pki = new Pki().ca('ca').leaf('server', 'ca', 'server');
  t.after(() => pki.remove());
  const webConfig = pki.file('web.yml');
  await writeFile(webConfig, `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: ${bcrypt.hashSync('secret', 4)}\n`);
  const { port } = await directRig(t, { configFile: webConfig });
  const dispatcher = new Agent({ connect: { ca: pki.read('ca.crt') } });
  t.after(() => dispatcher.close());
  const base = `https://127.0.0.1:${port}`;
  assert.equal((await get(`${base}/proxy?module=node`, { dispatcher })).status, 401);
  const wrong = { authorization: `Basic ${Buffer.from('prometheus:nope').toString('base64')}` };
  assert.equal((await get(`${base}/proxy?module=node`, { dispatcher, headers: wrong })).status, 401);
  const right = { authorization: `Basic ${Buffer.from('prometheus:secret').toString('base64')}` };
  const ok = await get(`${base}/proxy?module=node`, { dispatcher, headers: right });
  assert.equal(ok.status, 200);
  assert.equal(ok.text, METRICS_TEXT);
  await assert.rejects(get(`http://127.0.0.1:${port}/proxy?module=node`), 'plain http on the TLS listener fails');
});

test('direct mode: garbage, resets and half-sent heads do not stop the listener', { timeout: 30_000 }, async (t) => {
  const { port } = await directRig(t);
  const send = (bytes: string, destroyAfterMs?: number) =>
    new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.write(bytes);
        if (destroyAfterMs !== undefined) setTimeout(() => s.resetAndDestroy(), destroyAfterMs);
      });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.resume();
    });
  await send('\x00\x01garbage\r\n\r\n');
  await send('GET /proxy?module=late HTTP/1.1\r\nHost: x\r\n\r\n', 5);
  await send('GET /proxy?module=node HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nabc', 20);
  await send('GET /proxy?modu', 50);
  await waitFor(() => true, 10, 'settled');
  assert.equal((await get(`http://127.0.0.1:${port}/proxy?module=node`)).text, METRICS_TEXT);
});

test('direct mode: a flood of slow module requests is bounded; those past the limit get 503 at once', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pushprox-direct-flood-'));
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const config = path.join(dir, 'expexp.yaml');
  await writeFile(config, 'modules:\n  slow: { method: exec, timeout: 2s, exec: { command: sleep, args: ["30"] } }\n');
  const client = await startClient(
    testConfig(proxy.url, { modules: { files: [config], dirs: [] }, web: { listen: { host: '127.0.0.1', port: 0 }, configFile: undefined, lifecycle: false } }),
    { env: {} },
  );
  t.after(() => client.stop());
  const dispatcher = new Agent({ connections: 100 });
  t.after(() => dispatcher.close());
  const started = Date.now();
  const statuses = await Promise.all(
    Array.from({ length: 80 }, () => get(`http://127.0.0.1:${client.webAddress!.port}/proxy?module=slow`, { dispatcher }).then((r) => r.status, () => 0)),
  );
  const busy = statuses.filter((s) => s === 503).length;
  t.diagnostic(`80 requests: ${busy} answered 503, ${statuses.filter((s) => s === 500).length} 500 (module timeout), in ${Date.now() - started} ms`);
  assert.ok(busy >= 80 - 64, `at least 16 refused at once, got ${busy}`);
  // The others fail with the module's timeout as a complete 500, never a cut 200.
  assert.deepEqual(statuses.filter((s) => s !== 503 && s !== 500), []);
  assert.ok(Date.now() - started < 20_000);
  assert.equal((await get(`http://127.0.0.1:${client.webAddress!.port}/prometheus`)).text, '["slow"]');
});

test('without --proxy-url, --web.listen-address serves the modules alone: nothing polls', { timeout: 30_000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pushprox-direct-only-'));
  const exporter = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => exporter.close());
  const config = path.join(dir, 'expexp.yaml');
  await writeFile(config, `modules:\n  node: { method: http, http: { port: ${exporter.port} } }\n`);
  const { parseClientArgs, resolveConfig } = await import('../../src/index.js');
  const args = await parseClientArgs([`--config.file=${config}`, '--web.listen-address=127.0.0.1:0', '--metrics-addr=', '--fqdn=host-a'], '0.0.0');
  const resolved = await resolveConfig(args);
  assert.equal(resolved.proxyUrl, '');
  const client = await startClient(resolved, { env: {} });
  t.after(() => client.stop());
  assert.equal((await get(`http://127.0.0.1:${client.webAddress!.port}/proxy?module=node`)).text, METRICS_TEXT);
  assert.equal(client.pollLoops, 0);
  await assert.rejects(resolveConfig({ ...args, 'web.listen-address': undefined }), /--proxy-url flag must be specified/);
});
