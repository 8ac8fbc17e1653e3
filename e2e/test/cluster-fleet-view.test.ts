import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from '@nats-io/transport-node';
import { encodeClientMeta, PRESENCE_MAX_BYTES, SUBJECT_PRESENCE } from '@pushprox/shared';
import { missing, requireBinaries } from '../src/binaries.js';
import { launchChromium } from '../src/browser.js';
import { DEMO_BODY, startExporter, type TestExporter } from '../src/exporter.js';
import { getUrl, scrapeVia } from '../src/http.js';
import { startNatsCluster, type NatsCluster } from '../src/nats.js';
import { killAll, startClientProc, startProxyProc, type Proc, type ProxyProc } from '../src/procs.js';
import { helloWithMeta, registeredClients, waitRegistered } from '../src/proxy-api.js';

/**
 * The fleet view across two proxies joined over a real nats-server: a client
 * with labels and a module polls proxy A only; proxy B's /clients (http_sd),
 * /api/v1/clients and status page (in Debian's chromium) show it as A holds
 * it. And a proxy restarted with --registration.grace forwards a scrape for
 * a client A holds at once instead of waiting out the grace.
 */

after(killAll);

const FQDN = '127.0.0.41';
const BARE = '127.0.0.42';
const ANNOUNCE = '--cluster.announce-interval=1s';
const IMG = process.env['PUSHPROX_SCREENSHOTS']
  ? path.resolve(process.env['PUSHPROX_SCREENSHOTS'])
  : mkdtempSync(path.join(tmpdir(), 'pushprox-screenshots-'));

let nats: NatsCluster;
let a: ProxyProc;
let b: ProxyProc;
let exporter: TestExporter;
let bareExporter: TestExporter;
const clients: Proc[] = [];

// Run inside the page by playwright.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;

interface Row {
  fqdn: string;
  labels: Record<string, string>;
  modules: Array<{ name: string; style: string }>;
  version: string;
  transport: string;
  heldBy: string;
  local: boolean;
}

async function apiClients(p: ProxyProc, query = ''): Promise<Row[]> {
  const r = await getUrl(`${p.url}/api/v1/clients?${query}`);
  assert.equal(r.status, 200, r.body.toString());
  return (JSON.parse(r.body.toString()) as { data: { clients: Row[] } }).data.clients;
}

function proxyArgs(extra: readonly string[] = []): string[] {
  return [`--cluster.nats-url=${nats.urls}`, ANNOUNCE, ...extra];
}

before(async () => {
  // Each test skips (or, on CI, fails) through requireBinaries.
  if (missing('natsServer').length > 0) return;
  nats = await startNatsCluster(1);
  exporter = await startExporter();
  bareExporter = await startExporter({ host: BARE });
  a = await startProxyProc(proxyArgs(['--registration.grace=0s']));
  b = await startProxyProc(proxyArgs(['--registration.grace=0s']));
  await Promise.all([a.waitFor(/Cluster: connected to NATS/), b.waitFor(/Cluster: connected to NATS/)]);
  const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-e2e-fleet-view-'));
  writeFileSync(path.join(dir, 'expexp.yaml'), `modules:\n  node:\n    method: http\n    http:\n      port: ${exporter.port}\n`);
  clients.push(startClientProc(a.url, FQDN, ['--label=site=dc1', '--label', 'env=e2e', `--config.file=${path.join(dir, 'expexp.yaml')}`]));
  clients.push(startClientProc(a.url, BARE, ['--no-proxy.channel']));
});

after(async () => {
  await Promise.all(clients.map((c) => c.stop()));
  await exporter?.close();
  await bareExporter?.close();
  await nats?.stop();
});

test('/clients on another proxy of the fleet gives the same target groups as on the proxy holding the clients, labels and module groups included', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  await waitRegistered(a.url, [FQDN, BARE], { client: clients[0]! });
  await waitRegistered(b.url, [FQDN, BARE], { timeoutMs: 10_000 });
  const onA = (await getUrl(`${a.url}/clients`)).body.toString();
  // Presence carries metadata with the name: B may list the name a moment before it has the labels.
  let onB = '';
  for (let i = 0; i < 50 && onB !== onA; i++) {
    onB = (await getUrl(`${b.url}/clients`)).body.toString();
    if (onB !== onA) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(onB, onA, '/clients of B byte for byte as A\'s');
  const groups = JSON.parse(onA) as Array<{ targets: string[]; labels: Record<string, string> }>;
  assert.deepEqual(groups, [
    { targets: [FQDN], labels: { __metrics_path__: '/proxy', __param_module: 'node', env: 'e2e', module: 'node', site: 'dc1' } },
    { targets: [BARE], labels: {} },
  ]);
  // The module group's target, scraped through B, is forwarded to A and answered by the module.
  const r = await scrapeVia(b.port, `http://${FQDN}/proxy?module=node`, { timeoutSecs: 5 });
  assert.equal(r.status, 200, r.body.toString().slice(0, 300));
  assert.equal(r.body.toString(), DEMO_BODY);
});

test('/api/v1/clients on another proxy lists the clients A holds with their labels, modules, version, transport and "held by" A', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  await waitRegistered(b.url, [FQDN, BARE], { timeoutMs: 10_000 });
  const aName = `127.0.0.1:${a.port}`;
  const rows = await apiClients(b);
  const row = rows.find((c) => c.fqdn === FQDN)!;
  assert.ok(row, JSON.stringify(rows));
  assert.deepEqual(row.labels, { env: 'e2e', site: 'dc1' });
  assert.deepEqual(row.modules, [{ name: 'node', style: 'expexp' }]);
  assert.match(row.version, /\d+\.\d+/);
  assert.equal(row.transport, 'channel');
  assert.equal(row.heldBy, aName);
  assert.equal(row.local, false);
  assert.equal(rows.find((c) => c.fqdn === BARE)!.transport, 'polling');
  // On A the same clients are local, held by A itself.
  const onA = (await apiClients(a)).find((c) => c.fqdn === FQDN)!;
  assert.equal(onA.local, true);
  assert.equal(onA.heldBy, aName);
  assert.deepEqual((await apiClients(b, `heldBy=${encodeURIComponent(aName)}`)).map((c) => c.fqdn), [FQDN, BARE]);
  assert.deepEqual(await apiClients(b, 'heldBy=local'), []);
  const one = JSON.parse((await getUrl(`${b.url}/api/v1/client?fqdn=${FQDN}`)).body.toString()) as { data: Row & { history: unknown[] } };
  assert.equal(one.data.heldBy, aName);
  assert.deepEqual(one.data.history, []);
});

test('status page in chromium: proxy B lists the client held by A, "held by" A, and the held-by filter narrows the table', async (t) => {
  if (!requireBinaries(t, 'natsServer', 'chromium')) return;
  await waitRegistered(b.url, [FQDN, BARE], { timeoutMs: 10_000 });
  const browser = await launchChromium();
  t.after(() => browser.close());
  const { page } = browser;
  assert.equal((await page.goto(`${b.url}/`))?.status(), 200);
  await page.waitForSelector(`#rows tr[data-fqdn="${FQDN}"]`, { timeout: 5000 });
  const row = page.locator(`#rows tr[data-fqdn="${FQDN}"]`);
  assert.equal(await row.locator('td.held-by').textContent(), `127.0.0.1:${a.port}`);
  assert.match((await row.locator('td.labels').textContent()) ?? '', /site=dc1/);
  assert.equal(await row.locator('td.modules').textContent(), 'node');
  await page.fill('#heldBy', 'local');
  await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 0, undefined, { timeout: 5000 });
  await page.fill('#heldBy', 'remote');
  await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 2, undefined, { timeout: 5000 });
  await page.screenshot({ path: path.join(IMG, 'status-page-fleet.png'), fullPage: true });
  assert.deepEqual(browser.console.filter((m) => /error/i.test(m)), []);
});

test('a proxy restarted with --registration.grace forwards a scrape for a client another proxy holds at once, without waiting out the grace', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  await waitRegistered(b.url, [FQDN, BARE], { timeoutMs: 10_000 });
  await b.stop('SIGKILL');
  // Restarted on its address with a long grace; the scrape is sent as soon as it listens, before or while it joins.
  b = await startProxyProc(proxyArgs([`--web.listen-address=127.0.0.1:${b.port}`, '--registration.grace=60s']));
  const started = Date.now();
  const r = await scrapeVia(b.port, `http://${BARE}:${bareExporter.port}/metrics`, { timeoutSecs: 20, timeoutMs: 25_000 });
  const ms = Date.now() - started;
  t.diagnostic(`scrape through the restarted proxy for a client held by the other: ${r.status} after ${ms} ms`);
  assert.equal(r.status, 200, r.body.toString().slice(0, 300));
  assert.equal(r.body.toString(), DEMO_BODY);
  assert.ok(ms < 5000, `took ${ms} ms (the grace is 60 s, the scrape timeout 20 s)`);
  // A name no client serves anywhere still waits within the grace (for a poll or an announcement), up to its deadline.
  const waitStart = Date.now();
  const unknown = await scrapeVia(b.port, 'http://nobody.example:9100/metrics', { timeoutSecs: 2, timeoutMs: 10_000 });
  assert.notEqual(unknown.status, 200);
  assert.ok(Date.now() - waitStart >= 1500, `an unknown FQDN within the grace failed after ${Date.now() - waitStart} ms, before its deadline`);
});

test('a fleet whose metadata exceeds one NATS payload (1.5 MB of labels over 100 clients) reaches the other proxy whole, in messages under PRESENCE_MAX_BYTES', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  const names = Array.from({ length: 100 }, (_, i) => `big-${String(i).padStart(3, '0')}.fleet.example`);
  let total = 0;
  for (const [i, name] of names.entries()) {
    const labels: Record<string, string> = {};
    for (let k = 0; k < 11; k++) labels[`label_${k}`] = `${name}-${k}-`.padEnd(1000, 'v');
    const meta = encodeClientMeta({ labels, modules: [], version: 'e2e' });
    total += meta.length;
    assert.equal(await helloWithMeta(a.url, name, meta), 204, `hello of ${name} (${i}): registered, nothing to do`);
  }
  t.diagnostic(`${total} bytes of metadata over ${names.length} clients; NATS max_payload 1048576, PRESENCE_MAX_BYTES ${PRESENCE_MAX_BYTES}`);
  assert.ok(total > 1024 * 1024);
  const onA = (await getUrl(`${a.url}/clients`)).body.toString();
  let onB = '';
  const end = Date.now() + 15_000;
  while (onB !== onA && Date.now() < end) {
    onB = (await getUrl(`${b.url}/clients`)).body.toString();
    if (onB !== onA) await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(onB.length, onA.length, '/clients of B as long as A\'s');
  assert.ok(onB === onA, '/clients of B byte for byte as A\'s');
  const groups = JSON.parse(onB) as Array<{ targets: string[]; labels: Record<string, string> }>;
  assert.equal(groups.filter((g) => g.targets[0]!.startsWith('big-') && g.labels['label_10']?.length === 1000).length, 100);
});

test('hostile presence: junk in the metadata fields is dropped, metadata that does not decode leaves its client bare, and a flood of distinct metadata stays within its budget', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  const nc = await connect({ servers: nats.urls });
  t.after(() => nc.close());
  const msg = (extra: object, fqdns = ['junk.fleet.example']) => JSON.stringify({ v: 1, proxy: 'hostile', kind: 'add', ttlMs: 60_000, fqdns, ...extra });
  for (const junk of [
    msg({ transports: '' }),
    msg({ metaOf: [] }),
    msg({ meta: ['eyJ2IjoxfQ'], metaOf: [1], transports: 'c' }),
    msg({ meta: ['eyJ2IjoxfQ'], metaOf: [-2], transports: 'c' }),
    msg({ transports: 'x' }),
    msg({ transports: ['c'] }),
    msg({ meta: ['<script>alert(1)</script>'] }),
    msg({ meta: ['A'.repeat(17 * 1024)] }),
    msg({ meta: 'eyJ2IjoxfQ' }),
    msg({ name: 'n'.repeat(300) }),
    msg({ name: 42 }),
  ]) nc.publish(SUBJECT_PRESENCE, junk);
  // Well-formed, but the metadata breaks the header's rules (a reserved label name): listed bare.
  nc.publish(SUBJECT_PRESENCE, msg({ meta: [Buffer.from('{"v":1,"labels":{"__address__":"evil:1"}}').toString('base64url')], metaOf: [0], transports: 'c' }, ['bare.fleet.example']));
  await nc.flush();
  const end = Date.now() + 5000;
  while (!(await registeredClients(b.url)).includes('bare.fleet.example') && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  const listed = await registeredClients(b.url);
  assert.ok(listed.includes('bare.fleet.example'));
  assert.ok(!listed.includes('junk.fleet.example'), 'a message breaking the format is dropped whole');
  const bare = (JSON.parse((await getUrl(`${b.url}/clients`)).body.toString()) as Array<{ targets: string[]; labels: object }>).find((g) => g.targets.includes('bare.fleet.example'));
  assert.deepEqual(bare?.labels, {});
  // A flood: 100 messages of 60 clients, each with its own 16 KiB of metadata (192 MiB counted against the 64 MiB budget).
  const rssBefore = b.rss();
  for (let m = 0; m < 100; m++) {
    const fqdns: string[] = [];
    const meta: string[] = [];
    for (let i = 0; i < 60; i++) {
      const labels: Record<string, string> = {};
      for (let k = 0; k < 11; k++) labels[`l${k}`] = `${m}-${i}-${k}-`.padEnd(1000, 'f');
      fqdns.push(`flood-${m}-${i}.fleet.example`);
      meta.push(encodeClientMeta({ labels, modules: [] }));
    }
    nc.publish(SUBJECT_PRESENCE, msg({ meta, metaOf: meta.map((_, i) => i), transports: 'c'.repeat(meta.length) }, fqdns));
    await nc.flush();
  }
  const floodEnd = Date.now() + 20_000;
  while ((await registeredClients(b.url)).filter((f) => f.startsWith('flood-')).length < 6000 && Date.now() < floodEnd) await new Promise((r) => setTimeout(r, 250));
  const grown = b.rss() - rssBefore;
  t.diagnostic(`proxy RSS grew ${(grown / 1048576).toFixed(0)} MiB over a flood of 6,000 remote clients with 16 KiB of metadata each`);
  assert.equal((await registeredClients(b.url)).filter((f) => f.startsWith('flood-')).length, 6000);
  assert.ok(grown < 400 * 1048576, `RSS grew ${grown} bytes`);
  nc.publish(SUBJECT_PRESENCE, JSON.stringify({ v: 1, proxy: 'hostile', kind: 'bye', ttlMs: 1000, fqdns: [] }));
  await nc.flush();
  const byeEnd = Date.now() + 5000;
  while ((await registeredClients(b.url)).some((f) => f.startsWith('flood-')) && Date.now() < byeEnd) await new Promise((r) => setTimeout(r, 100));
  assert.ok(!(await registeredClients(b.url)).some((f) => f.startsWith('flood-')), 'a bye withdraws them all');
  const r = await scrapeVia(b.port, `http://${BARE}:${bareExporter.port}/metrics`, { timeoutSecs: 5 });
  assert.equal(r.status, 200, 'the proxy still forwards');
});
