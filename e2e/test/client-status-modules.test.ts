import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { silentLogger } from '@pushprox/shared';
import { resolveProxyConfig, startProxy } from '@pushprox/proxy';
import { parseClientArgs, resolveConfig, startClient } from '@pushprox/client';
import { requireBinaries } from '../src/binaries.js';
import { launchChromium } from '../src/browser.js';
import { startExporter } from '../src/exporter.js';
import { scrapeVia } from '../src/http.js';

/**
 * The client status page's Modules section (issue #27) in Debian's chromium:
 * a real proxy, a real client with module files, a real exporter behind one
 * module and a file module with bad output behind the other. Screenshots as
 * in status-page.test.ts (PUSHPROX_SCREENSHOTS=docs/img refreshes the README's).
 */

const IMG = process.env['PUSHPROX_SCREENSHOTS']
  ? path.resolve(process.env['PUSHPROX_SCREENSHOTS'])
  : mkdtempSync(path.join(tmpdir(), 'pushprox-screenshots-'));
// Under the 80 characters the verify error quotes of a bad line.
const XSS = `<script>window.__x=1</script><img src=x onerror="window.__x=2">`;

// Run inside the page by playwright (passed as functions: the page's CSP forbids evaluating strings).
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const window: any;

function moduleFile(exporterPort: number, dir: string, extra = ''): string {
  return `modules:
  node:
    method: http
    http:
      port: ${exporterPort}
      path: /metrics?collect=cpu&auth_token=s3cr3t-query
      basic_auth_username: scraper
      basic_auth_password: s3cr3t-password
      headers: { X-Api-Key: s3cr3t-header }
  broken:
    method: file
    file: { path: ${JSON.stringify(path.join(dir, 'broken.prom'))} }
  script:
    method: exec
    timeout: 5s
    exec:
      command: /bin/true
      args: [--password=s3cr3t-arg, --token, s3cr3t-next, plain]
      env: { API_KEY: s3cr3t-env }
${extra}`;
}

test('client status page in chromium: each module with its kind, redacted target and last result; openITCOCKPIT exporters; a failing module shows its reason as text; a reload that adds a module shows it', async (t) => {
  if (!requireBinaries(t, 'chromium')) return;
  mkdirSync(IMG, { recursive: true });
  const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-client-status-modules-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const proxy = await startProxy(await resolveProxyConfig(['--web.listen-address=127.0.0.1:0']), { logger: silentLogger });
  t.after(() => proxy.close());
  const exporter = await startExporter();
  t.after(() => exporter.close());
  writeFileSync(path.join(dir, 'broken.prom'), `# TYPE ok gauge\nok 1\n${XSS}\n`);
  const config = path.join(dir, 'expexp.yaml');
  writeFileSync(config, moduleFile(exporter.port, dir));
  const ini = path.join(dir, 'prometheus_exporters.ini');
  writeFileSync(ini, `[node_exporter]\nenabled = True\nmethod = http\nport = ${exporter.port}\npath = /metrics\n`);
  const args = await parseClientArgs(
    [`--proxy-url=${proxy.url}`, '--fqdn=127.0.0.1', '--metrics-addr=127.0.0.1:0', `--config.file=${config},${ini}`, '--web.listen-address=127.0.0.1:0', '--web.enable-lifecycle'],
    'test',
  );
  const client = await startClient(await resolveConfig(args), { version: '9.9.9-test' });
  t.after(() => client.stop());
  const statusUrl = `http://127.0.0.1:${client.metricsAddress!.port}/`;
  const webUrl = `http://127.0.0.1:${client.webAddress!.port}`;
  await until(() => proxy.coordinator.registry.isKnown('127.0.0.1'), 10_000, 'the first poll');
  assert.equal((await scrapeVia(proxy.address.port, 'http://127.0.0.1/proxy?module=node', { timeoutSecs: 10 })).status, 200);
  assert.notEqual((await scrapeVia(proxy.address.port, 'http://127.0.0.1/proxy?module=broken', { timeoutSecs: 10 })).status, 200);

  const browser = await launchChromium({ height: 800 });
  t.after(() => browser.close());
  const { page } = browser;
  await page.goto(statusUrl);
  await page.waitForSelector('#modules tr[data-module="broken"] td.reason:not(:empty)', { timeout: 5000 });
  const row = (name: string) => page.locator(`#modules tr[data-module="${name}"]`);
  const cells = async (name: string) => (await row(name).locator('td').allTextContents()).map((s) => s.trim());

  const node = await cells('node');
  assert.equal(node[0], 'node');
  assert.equal(node[1], 'http (exporter_exporter)');
  assert.match(node[2]!, new RegExp(`^http://localhost:${exporter.port}/metrics\\?collect=cpu&auth_token=<redacted>basic auth as scraper; header X-Api-Key$`));
  assert.equal(node[3], 'on');
  assert.equal(node[5], '200');
  assert.equal(node[7], '');
  assert.equal(await row('node').getAttribute('class'), 'up');

  const broken = await cells('broken');
  assert.equal(broken[1], 'file (exporter_exporter)');
  assert.equal(broken[2], path.join(dir, 'broken.prom'));
  assert.equal(await row('broken').getAttribute('class'), 'down', 'a failing module is marked');
  assert.ok(broken[7]!.includes(`module broken: invalid metrics output at line 3: ${JSON.stringify(XSS)}`), `error cell: ${broken[7]}`);

  const script = await cells('script');
  assert.equal(script[1], 'exec (exporter_exporter)');
  assert.equal(script[2], '/bin/true --password=<redacted> --token <redacted> plainenv API_KEY');
  assert.equal(script[3], 'on');
  assert.equal(script[4], 'never', 'a module never run has no result');

  const oitc = await cells('node_exporter');
  assert.equal(oitc[1], 'http (openITCOCKPIT)');
  assert.equal(oitc[2], `http://localhost:${exporter.port}/metrics`);

  const html = await page.content();
  assert.doesNotMatch(html, /s3cr3t/, 'no secret from the module file reaches the page');
  assert.deepEqual(await page.evaluate(() => ({ xss: window.__x, imgs: document.querySelectorAll('img').length })), { xss: undefined, imgs: 0 });
  const api = await (await request(`${statusUrl}api/v1/status`)).body.text();
  assert.doesNotMatch(api, /s3cr3t/, 'nor the API behind it');
  await page.screenshot({ path: path.join(IMG, 'client-status-modules.png'), fullPage: true });

  writeFileSync(config, moduleFile(exporter.port, dir, `  added:\n    method: http\n    http: { port: ${exporter.port}, verify: false }\n`));
  const reload = await request(`${webUrl}/-/reload`, { method: 'POST' });
  await reload.body.dump();
  assert.equal(reload.statusCode, 200);
  await page.waitForSelector('#modules tr[data-module="added"]', { timeout: 5000 });
  const added = await cells('added');
  assert.equal(added[3], 'off');
  assert.equal(added[4], 'never');
  assert.match((await page.locator('#modules-reload').textContent()) ?? '', /^5 modules, loaded \d+ s ago$/);

  writeFileSync(config, 'modules: [not a map');
  assert.equal((await request(`${webUrl}/-/reload`, { method: 'POST' })).statusCode, 500);
  await page.waitForFunction(() => document.getElementById('modules-reload')?.className === 'failed', undefined, { timeout: 5000 });
  assert.match((await page.locator('#modules-reload').textContent()) ?? '', /^Last reload failed \d+ s ago, still using the previous modules: /);
  assert.equal(await page.locator('#modules tr').count(), 5, 'a bad file keeps the modules in force');
  assert.deepEqual(browser.console.filter((l) => l.startsWith('pageerror') || l.startsWith('error')), []);
});

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
