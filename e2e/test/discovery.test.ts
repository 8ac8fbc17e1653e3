import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodeClientMeta } from '@pushprox/shared';
import { requireBinaries } from '../src/binaries.js';
import { getUrl, scrapeVia } from '../src/http.js';
import { startNodeExporter } from '../src/node-exporter.js';
import { makePki } from '../src/pki.js';
import { freePort } from '../src/ports.js';
import { killAll, startClientProc, startProxyProc } from '../src/procs.js';
import { Prometheus } from '../src/prometheus.js';
import { helloWithMeta, registeredClients, waitRegistered } from '../src/proxy-api.js';

/**
 * Discovery through /clients with a real Prometheus: as file_sd (the README's
 * cron command) and as http_sd_configs, with a gateway client's labels
 * reaching the series, and module target groups scraped with no relabelling.
 */

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await killAll();
});

async function prometheus(cfg: string): Promise<Prometheus> {
  const p = await Prometheus.start(cfg);
  cleanups.push(() => p.stop());
  return p;
}

/** Prometheus with one job, `modules`, that finds its targets through http_sd from the proxy's /clients alone. */
function modulesJob(proxyUrl: string): Promise<Prometheus> {
  return prometheus(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: modules
    proxy_url: ${proxyUrl}/
    http_sd_configs:
      - url: ${proxyUrl}/clients
        refresh_interval: 2s
`);
}

describe('discovery with a real Prometheus', () => {
  test('a gateway client serves a second host on 127.0.0.2; its --label values reach the series through file_sd and http_sd alike', async (t) => {
    if (!requireBinaries(t, 'prometheus', 'nodeExporter', 'wget')) return;
    const nePort = await freePort();
    const ne1 = await startNodeExporter('127.0.0.1', nePort);
    const ne2 = await startNodeExporter('127.0.0.2', nePort);
    t.after(() => Promise.all([ne1.stop(), ne2.stop()]));
    const proxy = await startProxyProc();
    const gateway = startClientProc(proxy.url, '127.0.0.1', ['--fqdn=127.0.0.2', '--label=site=dc1', '--label', 'env=e2e']);
    t.after(async () => {
      await gateway.stop('SIGKILL');
      await proxy.stop('SIGKILL');
    });
    await waitRegistered(proxy.url, ['127.0.0.1', '127.0.0.2'], { client: gateway });
    const listing = await getUrl(`${proxy.url}/clients`, { headers: { 'X-Prometheus-Refresh-Interval-Seconds': '2' } });
    assert.equal(listing.status, 200);
    assert.equal(listing.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(listing.body.toString()), [{ targets: ['127.0.0.1', '127.0.0.2'], labels: { env: 'e2e', site: 'dc1' } }]);

    const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-sd-'));
    const file = path.join(dir, 'pushprox.json');
    // The README's cron line, with this test's proxy and file.
    execSync(`wget -q -O ${file}.tmp ${proxy.url}/clients && mv ${file}.tmp ${file}`, { timeout: 10_000 });
    const relabel = `    relabel_configs:
      - source_labels: [__address__]
        target_label: __address__
        replacement: '\${1}:${nePort}'
`;
    const prom = await prometheus(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: file-sd
    proxy_url: ${proxy.url}/
    file_sd_configs:
      - files: [${file}]
${relabel}  - job_name: http-sd
    proxy_url: ${proxy.url}/
    http_sd_configs:
      - url: ${proxy.url}/clients
        refresh_interval: 2s
${relabel}`);
    const { ms } = await prom.waitFor('4 targets up with the labels', 30_000, async () => {
      const r = await prom.query('count(up{site="dc1",env="e2e"} == 1)');
      return r[0]?.value === 4 ? true : undefined;
    });
    t.diagnostic(`both hosts up in both jobs with the client's labels after ${ms} ms`);
    for (const job of ['file-sd', 'http-sd']) {
      const info = await prom.query(`node_exporter_build_info{job="${job}",site="dc1",env="e2e",instance="127.0.0.2:${nePort}"}`);
      assert.equal(info.length, 1, `${job}: the second host's series carry the labels`);
    }
    // Restarted with another label: http_sd picks it up at its next refresh, without cron.
    await gateway.stop('SIGTERM');
    const moved = startClientProc(proxy.url, '127.0.0.1', ['--fqdn=127.0.0.2', '--label=site=dc9']);
    t.after(() => moved.stop('SIGKILL'));
    const { ms: relabelMs } = await prom.waitFor('the new label via http_sd', 30_000, async () => {
      const r = await prom.query('count(up{job="http-sd",site="dc9"} == 1)');
      return r[0]?.value === 2 ? true : undefined;
    });
    t.diagnostic(`the new label reached the http_sd job's series after ${relabelMs} ms`);
  });

  test('each module is a target group: http_sd alone gives Prometheus the module scrape URLs and a module label, no relabelling', async (t) => {
    if (!requireBinaries(t, 'prometheus')) return;
    const proxy = await startProxyProc();
    t.after(() => proxy.stop('SIGKILL'));
    const meta = encodeClientMeta({
      labels: { site: 'dc2' },
      modules: [
        { name: 'node', style: 'expexp' },
        { name: 'mysqld', style: 'oitc' },
      ],
    });
    assert.equal(await helloWithMeta(proxy.url, 'gw-host.example', meta), 204);
    const prom = await modulesJob(proxy.url);
    const { value: targets } = await prom.waitFor('two module targets', 20_000, async () => {
      const all = await prom.targets();
      return all.length === 2 ? all : undefined;
    });
    const urls = targets.map((x) => x.scrapeUrl).sort();
    assert.deepEqual(urls, ['http://gw-host.example:80/prometheus?exporter=mysqld', 'http://gw-host.example:80/proxy?module=node']);
    const node = targets.find((x) => x.scrapeUrl.includes('module=node'))!;
    assert.equal(node.labels['module'], 'node');
    assert.equal(node.labels['site'], 'dc2');
  });

  test('a real client with an exporter_exporter module and an openITCOCKPIT exporter: one http_sd job scrapes both, up with its labels', async (t) => {
    if (!requireBinaries(t, 'prometheus', 'nodeExporter')) return;
    const nePort = await freePort();
    const ne = await startNodeExporter('127.0.0.1', nePort);
    t.after(() => ne.stop());
    const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-sd-modules-'));
    writeFileSync(path.join(dir, 'expexp.yaml'), `modules:\n  node:\n    method: http\n    http:\n      port: ${nePort}\n`);
    writeFileSync(path.join(dir, 'prometheus_exporters.ini'), `[node_exporter]\nenabled = True\nmethod = http\nport = ${nePort}\npath = /metrics\n`);
    const proxy = await startProxyProc();
    const client = startClientProc(proxy.url, '127.0.0.1', [
      `--config.file=${path.join(dir, 'expexp.yaml')},${path.join(dir, 'prometheus_exporters.ini')}`,
      '--label=site=dc3',
    ]);
    t.after(async () => {
      await client.stop('SIGKILL');
      await proxy.stop('SIGKILL');
    });
    await waitRegistered(proxy.url, '127.0.0.1', { client });
    const prom = await modulesJob(proxy.url);
    const { value: up } = await prom.waitFor('both module targets up', 30_000, async () => {
      const r = await prom.query('up{job="modules"} == 1');
      return r.length === 2 ? r : undefined;
    });
    const byModule = new Map(up.map((r) => [r.metric['module'] ?? r.metric['exporter'], r.metric]));
    assert.equal(byModule.get('node')?.['site'], 'dc3');
    assert.equal(byModule.get('node_exporter')?.['site'], 'dc3');
    const series = await prom.query('node_exporter_build_info{job="modules"}');
    assert.equal(series.length, 2, 'node_exporter scraped through both modules');
  });

  test('identity binding holds per FQDN: a gateway whose token covers only 127.0.0.1 cannot poll for 127.0.0.2', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-gw-token-'));
    writeFileSync(path.join(dir, 'proxy-tokens'), 'token-for-host-a-0123456789 127.0.0.1\n');
    writeFileSync(path.join(dir, 'client-token'), 'token-for-host-a-0123456789\n');
    const exporterPort = await freePort();
    const exporter = http.createServer((_req, res) => res.end('up_test 1\n')).listen(exporterPort, '127.0.0.1');
    t.after(() => new Promise((r) => exporter.close(r)));
    // --registration.grace=0s: the refused name must fail at once, not wait for a poll.
    const proxy = await startProxyProc([`--client.token-file=${path.join(dir, 'proxy-tokens')}`, '--registration.grace=0s']);
    const gateway = startClientProc(proxy.url, '127.0.0.1', ['--fqdn=127.0.0.2', `--client.token-file=${path.join(dir, 'client-token')}`]);
    t.after(async () => {
      await gateway.stop('SIGKILL');
      await proxy.stop('SIGKILL');
    });
    await waitRegistered(proxy.url, '127.0.0.1', { client: gateway });
    // The gateway's lines name the FQDN; the proxy's 403 names it too.
    await gateway.waitFor(/msg="Error polling" fqdn=127\.0\.0\.2 err=.*status 403.*may not act for .{0,8}127\.0\.0\.2/);
    assert.deepEqual(await registeredClients(proxy.url), ['127.0.0.1']);
    const ok = await scrapeVia(proxy.port, `http://127.0.0.1:${exporterPort}/metrics`, { timeoutSecs: 5 });
    assert.equal(ok.status, 200);
    const refused = await scrapeVia(proxy.port, `http://127.0.0.2:${exporterPort}/metrics`, { timeoutSecs: 5 });
    assert.equal(refused.status, 500);
    assert.match(refused.body.toString(), /no client registered for "127\.0\.0\.2"/);
  });

  test('identity binding holds per FQDN: a gateway whose client certificate names only 127.0.0.1 cannot poll for 127.0.0.2', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-gw-cert-'));
    const pki = await makePki(path.join(dir, 'pki'), ['127.0.0.1']);
    const web = path.join(dir, 'web.yml');
    writeFileSync(
      web,
      `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.serverKey}\n` +
        `  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ${pki.ca}\n`,
    );
    const proxy = await startProxyProc([`--web.config.file=${web}`]);
    const httpsUrl = `https://127.0.0.1:${proxy.port}`;
    const cert = pki.client('127.0.0.1');
    const gateway = startClientProc(httpsUrl, '127.0.0.1', [
      '--fqdn=127.0.0.2',
      `--tls.cacert=${pki.ca}`,
      `--tls.cert=${cert.cert}`,
      `--tls.key=${cert.key}`,
    ]);
    t.after(async () => {
      await gateway.stop('SIGKILL');
      await proxy.stop('SIGKILL');
    });
    const ca = readFileSync(pki.ca);
    await waitRegistered(httpsUrl, '127.0.0.1', { client: gateway, ca });
    await gateway.waitFor(/msg="Error polling" fqdn=127\.0\.0\.2 err=.*status 403.*may not act for .{0,8}127\.0\.0\.2/);
    assert.deepEqual(await registeredClients(httpsUrl, { ca }), ['127.0.0.1']);
  });
});
