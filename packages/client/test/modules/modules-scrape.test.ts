import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { decodeClientMeta } from '@pushprox/shared';
import { scrapePolicy, startClient } from '../../src/index.js';
import { counterValue, FakeProxy, FQDN, METRICS_TEXT, scrapeRequest, startExporter, testConfig, waitFor } from '../helpers.js';

async function rig(t: { after(fn: () => unknown): void }, files: (dir: string, exporterPort: number) => Record<string, string>) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pushprox-modscrape-'));
  const proxy = await FakeProxy.start('upstream');
  t.after(() => proxy.close());
  const exporter = await startExporter((_req, res) => res.end(METRICS_TEXT));
  t.after(() => exporter.close());
  const written = files(dir, exporter.port);
  for (const [name, text] of Object.entries(written)) await writeFile(path.join(dir, name), text, { mode: 0o755 });
  const configFiles = Object.keys(written).filter((n) => n.endsWith('.yaml') || n.endsWith('.ini')).map((n) => path.join(dir, n));
  const client = await startClient(
    // --allow-port names a port no module uses: module scrapes do not depend on it.
    testConfig(proxy.url, { modules: { files: configFiles, dirs: [] }, scrapePolicy: scrapePolicy({ allowPorts: [1] }) }),
    { env: {} },
  );
  t.after(() => client.stop());
  const scrape = async (pathAndQuery: string, extraHeaders?: Array<[string, string]>) => {
    const req = scrapeRequest({ target: `http://${FQDN}${pathAndQuery}`, timeoutSeconds: '5', ...(extraHeaders && { extraHeaders }) });
    proxy.scrape(req.bytes);
    return (await proxy.waitPush(req.id, 10_000)).parsed;
  };
  return { dir, proxy, exporter, client, scrape };
}

const SCRIPT = (body: string) => `#!/usr/bin/env node\n${body}\n`;

test('http, exec and file modules answer through the proxy whatever --allow-port says; the port itself stays refused', { timeout: 30_000 }, async (t) => {
  const { dir, exporter, scrape } = await rig(t, (d, port) => ({
    'gen.js': SCRIPT(`require('fs').writeFileSync(process.env.OUT, JSON.stringify(process.argv.slice(2))); process.stdout.write('script_up 1\\n');`),
    'text.prom': '# TYPE from_file gauge\nfrom_file 3\n',
    'expexp.yaml': `modules:
  node: { method: http, http: { port: ${port} } }
  script: { method: exec, exec: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(path.join(d, 'gen.js'))}, fixed], env: { OUT: ${JSON.stringify(path.join(d, 'argv.json'))} } } }
  textfile: { method: file, file: { path: ${JSON.stringify(path.join(d, 'text.prom'))} } }
`,
  }));
  const node = await scrape('/proxy?module=node');
  assert.equal(node.head.status, 200);
  assert.equal(node.body.toString(), METRICS_TEXT);
  assert.equal(exporter.requests.length, 1);

  const direct = await scrape(`:${exporter.port}/metrics`);
  assert.equal(direct.head.status, 403, 'the exporter port is not opened by the module list');

  // `;`, `$(...)` and newlines reach argv as literal strings: there is no shell.
  const script = await scrape('/proxy?module=script&args=%3B%20touch%20pwned&args=%24(id)&args=a%0Ab');
  assert.equal(script.head.status, 200, script.body.toString());
  assert.equal(script.body.toString(), 'script_up 1\n');
  assert.deepEqual(JSON.parse(await readFile(path.join(dir, 'argv.json'), 'utf8')), ['fixed', '; touch pwned', '$(id)', 'a\nb']);

  const file = await scrape('/proxy?module=textfile');
  assert.equal(file.head.status, 200);
  assert.equal(file.body.toString(), '# TYPE from_file gauge\nfrom_file 3\n');

  // args= is not argv for an http module: it is passed on as a query parameter.
  await scrape('/proxy?module=node&args=%3Bx');
  assert.equal(exporter.requests.at(-1)!.url, '/metrics?args=%3Bx');
});

test('unknown modules get each tool\'s text; listings have each tool\'s shape', { timeout: 30_000 }, async (t) => {
  const { scrape } = await rig(t, (_d, port) => ({
    'expexp.yaml': `modules:\n  node: { method: http, http: { port: ${port} } }\n`,
    'prometheus_exporters.ini': `[node_exporter]\nenabled = True\nmethod = http\nport = ${port}\npath = /metrics\n\n[off]\nenabled = False\nport = 1\n`,
  }));
  const unknown = await scrape('/proxy?module=nope');
  assert.equal(unknown.head.status, 404);
  assert.equal(unknown.body.toString(), 'unknown module [nope]\n\n');
  const traversal = await scrape('/proxy?module=..%2F..%2Fetc%2Fpasswd');
  assert.equal(traversal.head.status, 404);
  const oitcUnknown = await scrape('/prometheus?exporter=off');
  assert.equal(oitcUnknown.head.status, 404);
  assert.equal(oitcUnknown.body.toString(), 'Unknown exporter');
  const missing = await scrape('/proxy');
  assert.equal(missing.head.status, 400);
  const list = await scrape('/prometheus');
  assert.deepEqual(JSON.parse(list.body.toString()), ['node', 'node_exporter']);
  const json = await scrape('/', [['Accept', 'application/json']]);
  assert.deepEqual(Object.keys(JSON.parse(json.body.toString())), ['node', 'node_exporter']);
  const html = await scrape('/');
  assert.match(html.body.toString(), /<a href="\/proxy\?module=node">node<\/a>/);
  const oitc = await scrape('/prometheus?exporter=node_exporter');
  assert.equal(oitc.head.status, 200);
  assert.equal(oitc.body.toString(), METRICS_TEXT);
});

test('failures: invalid output names the line; non-zero exit, a command that never exits and a missing file fail with the reason', { timeout: 30_000 }, async (t) => {
  const { dir, client, scrape } = await rig(t, (d) => ({
    'bad.js': SCRIPT(`process.stdout.write('good 1\\nthis is not a metric\\n');`),
    'exit3.js': SCRIPT(`process.stdout.write('up 1\\n'); process.stderr.write('database is down\\n'); process.exit(3);`),
    'hang.js': SCRIPT(`const c = require('child_process').spawn('sleep', ['300'], { stdio: 'ignore' }); require('fs').writeFileSync(process.env.OUT, JSON.stringify([process.pid, c.pid])); setInterval(() => {}, 1000);`),
    'expexp.yaml': `modules:
  bad: { method: exec, exec: { command: ${JSON.stringify(path.join(d, 'bad.js'))} } }
  exit3: { method: exec, exec: { command: ${JSON.stringify(path.join(d, 'exit3.js'))} } }
  hang: { method: exec, timeout: 1s, exec: { command: ${JSON.stringify(path.join(d, 'hang.js'))}, env: { OUT: ${JSON.stringify(path.join(d, 'pids.json'))} } } }
  gone: { method: file, file: { path: ${JSON.stringify(path.join(d, 'missing.prom'))} } }
  nocmd: { method: exec, exec: { command: ${JSON.stringify(path.join(d, 'no-such-command'))} } }
`,
  }));
  const bad = await scrape('/proxy?module=bad');
  assert.equal(bad.head.status, 500);
  assert.match(bad.head.reason, /module bad: invalid metrics output at line 2: "this is not a metric"/);
  const exit3 = await scrape('/proxy?module=exit3');
  assert.equal(exit3.head.status, 500);
  assert.match(exit3.head.reason, /exited with status 3: database is down/);
  const started = Date.now();
  const hang = await scrape('/proxy?module=hang');
  assert.equal(hang.head.status, 500);
  assert.match(hang.head.reason, /timeout after 1s \(module timeout\)/);
  assert.ok(Date.now() - started < 4000);
  const pids = JSON.parse(await readFile(path.join(dir, 'pids.json'), 'utf8')) as number[];
  // The whole process group is killed, the command's own child too.
  await waitFor(() => pids.every((pid) => !alive(pid)), 3000, `exec pids ${pids} killed`);
  const gone = await scrape('/proxy?module=gone');
  assert.equal(gone.head.status, 500);
  assert.match(gone.head.reason, /module gone: cannot read .*missing.prom: .*ENOENT/);
  const nocmd = await scrape('/proxy?module=nocmd');
  assert.equal(nocmd.head.status, 500);
  assert.match(nocmd.head.reason, /cannot run .*no-such-command: .*ENOENT/);
  assert.ok((await counterValue(client.metrics.registry, 'pushprox_client_scrape_errors_total')) >= 5);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('reload adds a module, and the next poll announces it to the proxy; a bad file keeps the old modules and sets the reload gauge to 0', { timeout: 30_000 }, async (t) => {
  const { dir, client, scrape, proxy } = await rig(t, (_d, port) => ({ 'expexp.yaml': `modules:\n  node: { method: http, http: { port: ${port} } }\n` }));
  const announced = (): string[] => {
    const header = proxy.polls.at(-1)?.headers['x-pushprox-client-meta'];
    return typeof header === 'string' ? decodeClientMeta(header).modules.map((m) => m.name) : [];
  };
  await waitFor(() => announced().length > 0, 5_000, 'a poll with the client metadata');
  assert.deepEqual(announced(), ['node']);
  const gauge = async () => (await client.metrics.registry.getSingleMetricAsString('pushprox_client_config_last_reload_successful')).split('\n').at(-1);
  assert.equal((await scrape('/proxy?module=extra')).head.status, 404);
  await writeFile(path.join(dir, 'expexp.yaml'), `modules:\n  extra: { method: file, file: { path: ${JSON.stringify(path.join(dir, 'expexp.yaml'))} } }\n  node: { method: http, http: { port: 1 } }\n`);
  // The file module above serves YAML, not metrics: verification refuses it.
  await client.reloadModules();
  assert.deepEqual(client.modules!.meta().map((m) => m.name), ['extra', 'node']);
  assert.match((await scrape('/proxy?module=extra')).head.reason, /invalid metrics output at line 1/);
  // The scrape's push is followed by a new poll, which carries the reloaded list.
  await waitFor(() => announced().includes('extra'), 5_000, 'a poll announcing the reloaded module');
  assert.deepEqual(announced(), ['extra', 'node']);
  assert.equal(await gauge(), 'pushprox_client_config_last_reload_successful 1');
  await writeFile(path.join(dir, 'expexp.yaml'), 'modules:\n  broken: { method: http }\n');
  await assert.rejects(client.reloadModules(), /must have a non-zero port/);
  assert.equal(await gauge(), 'pushprox_client_config_last_reload_successful 0');
  assert.deepEqual(client.modules!.meta().map((m) => m.name), ['extra', 'node']);
});

test('on a channel, a reload that changes the modules reopens the channel, so the proxy learns them without a restart', { timeout: 30_000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pushprox-modchannel-'));
  const file = path.join(dir, 'expexp.yaml');
  await writeFile(file, 'modules:\n  node: { method: http, http: { port: 9100 } }\n');
  const proxy = await FakeProxy.start('ours');
  proxy.channel = true;
  t.after(() => proxy.close());
  const client = await startClient(testConfig(proxy.url, { channel: true, modules: { files: [file], dirs: [] } }), { env: {} });
  t.after(() => client.stop());
  const names = (headers: { [k: string]: unknown } | undefined): string[] => {
    const header = headers?.['x-pushprox-client-meta'];
    return typeof header === 'string' ? decodeClientMeta(header).modules.map((m) => m.name) : [];
  };
  await waitFor(() => client.pollMode === 'channel' && proxy.upgrades.length > 0, 10_000, 'a channel');
  assert.deepEqual(names(proxy.upgrades.at(-1)), ['node']);
  const upgradesBefore = proxy.upgrades.length;
  await writeFile(file, 'modules:\n  node: { method: http, http: { port: 9100 } }\n  extra: { method: http, http: { port: 9101 } }\n');
  await client.reloadModules();
  await waitFor(() => proxy.upgrades.length > upgradesBefore, 10_000, 'the channel reopened after the reload');
  assert.deepEqual(names(proxy.upgrades.at(-1)), ['extra', 'node']);
  await waitFor(() => client.pollMode === 'channel', 10_000, 'the client back on a channel');
});

test('gateway use: an http module may name another host of the client\'s network (address), reached only through the module', { timeout: 30_000 }, async (t) => {
  const http = await import('node:http');
  const other = http.createServer((_req, res) => res.end('other_host_metric 1\n'));
  await new Promise<void>((r) => other.listen(0, '127.0.0.2', r));
  t.after(() => new Promise((r) => other.close(r)));
  const port = (other.address() as { port: number }).port;
  const { scrape } = await rig(t, () => ({ 'expexp.yaml': `modules:\n  other: { method: http, http: { address: 127.0.0.2, port: ${port} } }\n` }));
  const res = await scrape('/proxy?module=other');
  assert.equal(res.head.status, 200);
  assert.equal(res.body.toString(), 'other_host_metric 1\n');
});

test('an http module whose exporter resets mid-body or lies about its length fails the scrape with the reason', { timeout: 30_000 }, async (t) => {
  const net = await import('node:net');
  const liar = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nshort_metric 1\n'));
  });
  await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => liar.close(r)));
  const resetter = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nreset_metric 1\n\r\n');
      setTimeout(() => s.resetAndDestroy(), 20);
    });
  });
  await new Promise<void>((r) => resetter.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => resetter.close(r)));
  const lp = (liar.address() as { port: number }).port;
  const rp = (resetter.address() as { port: number }).port;
  const { scrape, client } = await rig(t, () => ({ 'expexp.yaml': `modules:\n  liar: { method: http, http: { port: ${lp} } }\n  reset: { method: http, http: { port: ${rp} } }\n` }));
  const l = await scrape('/proxy?module=liar');
  assert.equal(l.head.status, 500);
  assert.match(l.head.reason, /ended after \d+ of 1000 bytes|broke/);
  const r = await scrape('/proxy?module=reset');
  assert.equal(r.head.status, 500);
  assert.match(r.head.reason, /broke after|ended after/);
  await waitFor(() => client.scrapesRunning === 0, 5000, 'no scrape left running');
});
