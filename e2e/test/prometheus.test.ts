import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, execSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requireBinaries } from '../src/binaries.js';
import { startExporter, type TestExporter } from '../src/exporter.js';
import { LegacyClient } from '../src/legacy-client.js';
import { startNodeExporter } from '../src/node-exporter.js';
import { freePort } from '../src/ports.js';
import { killAll, startClientProc, startProxyProc, type Proc } from '../src/procs.js';
import { Prometheus } from '../src/prometheus.js';
import { metricValue, waitRegistered } from '../src/proxy-api.js';

/**
 * Prometheus 2.42 and node_exporter from Debian, our proxy and clients, all
 * on loopback. Prometheus is driven only by its config and read only through
 * /api/v1/query and /api/v1/targets.
 */

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await killAll();
});

function job(name: string, proxyPort: number, targets: string[], extra = ''): string {
  return `  - job_name: ${name}
    proxy_url: http://127.0.0.1:${proxyPort}/
    static_configs:
      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]
${extra}`;
}

function config(interval: string, timeout: string, jobs: string): string {
  return `global:\n  scrape_interval: ${interval}\n  scrape_timeout: ${timeout}\nscrape_configs:\n${jobs}`;
}

async function prometheus(cfg: string, files?: Record<string, string>): Promise<Prometheus> {
  const p = await Prometheus.start(cfg, files);
  cleanups.push(() => p.stop());
  return p;
}

async function value(p: Prometheus, expr: string): Promise<number | undefined> {
  const r = await p.query(expr);
  return r.length === 1 ? r[0]!.value : undefined;
}

async function stack(t: TestContext, fqdns: string[], clientArgs: string[] = []) {
  const proxy = await startProxyProc();
  const clients: Proc[] = [];
  for (const f of fqdns) clients.push(startClientProc(proxy.url, f, clientArgs));
  await waitRegistered(proxy.url, fqdns);
  t.after(async () => {
    await Promise.all(clients.map((c) => c.stop('SIGKILL')));
    await proxy.stop('SIGKILL');
  });
  return { proxy, clients };
}

describe('with a real Prometheus', () => {
  /** Prometheus scrapes node_exporter through proxy and client, and directly: the same samples. */
  async function viaAndDirect(t: TestContext, clientArgs: string[]): Promise<Proc> {
    const nePort = await freePort();
    const ne = await startNodeExporter('127.0.0.1', nePort);
    t.after(() => ne.stop());
    const { proxy, clients } = await stack(t, ['127.0.0.1'], clientArgs);
    const prom = await prometheus(
      config('1s', '900ms', job('via-proxy', proxy.port, [`127.0.0.1:${nePort}`]) +
        `  - job_name: direct\n    static_configs:\n      - targets: ['127.0.0.1:${nePort}']\n`),
    );
    await prom.waitFor('up via proxy', 20_000, () => value(prom, 'up{job="via-proxy"} == 1'));
    const info = await prom.query('node_exporter_build_info{job="via-proxy"}');
    assert.equal(info.length, 1);
    const { value: counts } = await prom.waitFor('equal sample counts', 10_000, async () => {
      const via = await value(prom, 'scrape_samples_scraped{job="via-proxy"}');
      const direct = await value(prom, 'scrape_samples_scraped{job="direct"}');
      return via !== undefined && via === direct ? { via, direct } : undefined;
    });
    t.diagnostic(`scrape_samples_scraped via proxy ${counts.via}, direct ${counts.direct}`);
    assert.ok(counts.via > 100);
    return clients[0]!;
  }

  test('1. proxy_url scrape of node_exporter: up == 1, build info present, same sample count as direct; the default client switched to a channel', async (t) => {
    if (!requireBinaries(t, 'prometheus', 'nodeExporter')) return;
    const client = await viaAndDirect(t, ['--log.level=debug']);
    // Every scrape came over the channel: the client switched before Prometheus started, and never polled again.
    await client.waitFor(/scrapes now come over it/);
    assert.doesNotMatch(client.output, /Lost every channel|could not be opened|Error polling/);
  });

  test('1b. the same by polling (--no-proxy.channel): up == 1, same sample count as direct, no channel', async (t) => {
    if (!requireBinaries(t, 'prometheus', 'nodeExporter')) return;
    const client = await viaAndDirect(t, ['--no-proxy.channel', '--log.level=debug']);
    assert.doesNotMatch(client.output, /scrapes now come over it|channel/i);
  });

  test('2. discovery from /clients with the README cron command; a second client appears within one refresh', async (t) => {
    if (!requireBinaries(t, 'prometheus', 'nodeExporter', 'wget')) return;
    const nePort = await freePort();
    const ne1 = await startNodeExporter('127.0.0.1', nePort);
    const ne2 = await startNodeExporter('127.0.0.2', nePort);
    t.after(() => Promise.all([ne1.stop(), ne2.stop()]));
    const { proxy } = await stack(t, ['127.0.0.1']);
    const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-sd-'));
    const file = path.join(dir, 'pushprox.json');
    // The README's cron line, with this test's proxy and file.
    const cron = `wget -q -O ${file}.tmp http://127.0.0.1:${proxy.port}/clients && mv ${file}.tmp ${file}`;
    execSync(cron, { timeout: 10_000 });
    const prom = await prometheus(
      config(
        '1s',
        '900ms',
        `  - job_name: pushprox-sd
    proxy_url: http://127.0.0.1:${proxy.port}/
    file_sd_configs:
      - files: [${file}]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __address__
        replacement: '\${1}:${nePort}'
`,
      ),
    );
    await prom.waitHealth(`127.0.0.1:${nePort}`, 'up', 20_000);
    const second = startClientProc(proxy.url, '127.0.0.2');
    t.after(() => second.stop('SIGKILL'));
    await waitRegistered(proxy.url, '127.0.0.2');
    execSync(cron, { timeout: 10_000 });
    const { ms } = await prom.waitHealth(`127.0.0.2:${nePort}`, 'up', 15_000);
    t.diagnostic(`second client scraped ${ms} ms after the cron command ran`);
    assert.equal((await prom.targets()).filter((x) => x.health === 'up').length, 2);
  });

  test('3. an HTTPS node_exporter scraped with params _scheme: [https]', async (t) => {
    if (!requireBinaries(t, 'prometheus', 'nodeExporter', 'openssl')) return;
    const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ], { stdio: 'ignore', timeout: 30_000 });
    writeFileSync(
      path.join(dir, 'web.yml'),
      `tls_server_config:\n  cert_file: ${path.join(dir, 'cert.pem')}\n  key_file: ${path.join(dir, 'key.pem')}\n`,
    );
    const nePort = await freePort();
    const ne = await startNodeExporter('127.0.0.1', nePort, path.join(dir, 'web.yml'));
    t.after(() => ne.stop());
    const { proxy } = await stack(t, ['127.0.0.1'], [`--tls.cacert=${path.join(dir, 'cert.pem')}`]);
    const prom = await prometheus(
      config('1s', '900ms', job('https', proxy.port, [`127.0.0.1:${nePort}`], '    params:\n      _scheme: [https]\n')),
    );
    await prom.waitFor('https target up', 20_000, () => value(prom, 'up{job="https"} == 1'));
    assert.equal((await prom.query('node_exporter_build_info{job="https"}')).length, 1);
  });

  test('4. a killed client gives up == 0 within interval + timeout, with the reason; restarted, up == 1 within two intervals', async (t) => {
    if (!requireBinaries(t, 'prometheus')) return;
    const exp = await startExporter();
    cleanups.push(() => exp.close());
    const { proxy, clients } = await stack(t, ['127.0.0.1']);
    const prom = await prometheus(config('2s', '1s', job('death', proxy.port, [`127.0.0.1:${exp.port}`])));
    await prom.waitHealth(`127.0.0.1:${exp.port}`, 'up', 20_000);
    await clients[0]!.stop('SIGKILL');
    const killedAt = Date.now();
    const { value: down } = await prom.waitHealth(`127.0.0.1:${exp.port}`, 'down', 10_000);
    const downMs = Date.now() - killedAt;
    t.diagnostic(`down after ${downMs} ms; lastError: ${down.lastError}`);
    assert.ok(downMs <= 2000 + 1000 + 1000, `down after ${downMs} ms`);
    assert.match(down.lastError, /no poll from the client|not registered|no client/);
    const again = startClientProc(proxy.url, '127.0.0.1');
    t.after(() => again.stop('SIGKILL'));
    const startedAt = Date.now();
    await prom.waitHealth(`127.0.0.1:${exp.port}`, 'up', 10_000);
    const upMs = Date.now() - startedAt;
    t.diagnostic(`up again ${upMs} ms after the client restarted`);
    assert.ok(upMs <= 2 * 2000 + 1500, `up after ${upMs} ms`);
  });

  test('5. after a proxy restart every client reconnects by itself', async (t) => {
    if (!requireBinaries(t, 'prometheus')) return;
    const exp1 = await startExporter({ host: '127.0.0.1' });
    const exp2 = await startExporter({ host: '127.0.0.2' });
    cleanups.push(() => exp1.close(), () => exp2.close());
    const port = await freePort();
    let proxy = await startProxyProc([`--web.listen-address=127.0.0.1:${port}`]);
    const clients = ['127.0.0.1', '127.0.0.2'].map((f) => startClientProc(proxy.url, f));
    t.after(async () => {
      await Promise.all(clients.map((c) => c.stop('SIGKILL')));
      await proxy.stop('SIGKILL');
    });
    const targets = [`127.0.0.1:${exp1.port}`, `127.0.0.2:${exp2.port}`];
    const prom = await prometheus(config('1s', '900ms', job('restart', port, targets)));
    await prom.waitFor('both up', 20_000, () => value(prom, 'count(up{job="restart"} == 1) == 2'));
    const stop = await proxy.stop('SIGTERM');
    assert.equal(stop.code, 0);
    proxy = await startProxyProc([`--web.listen-address=127.0.0.1:${port}`]);
    const restartedAt = Date.now();
    await waitRegistered(proxy.url, ['127.0.0.1', '127.0.0.2']);
    const registeredMs = Date.now() - restartedAt;
    await prom.waitFor('both up again', 20_000, async () => {
      const ts = await prom.targets();
      return ts.every((x) => x.health === 'up' && Date.parse(x.lastScrape) > restartedAt) ? true : undefined;
    });
    const upMs = Date.now() - restartedAt;
    t.diagnostic(`clients re-registered ${registeredMs} ms and both targets up ${upMs} ms after the proxy came back`);
    // Bound: the client's longest retry wait (5 s) plus one interval and a scrape.
    assert.ok(upMs <= 5000 + 1000 + 2000, `up again after ${upMs} ms`);
  });

  test('6. an exporter slower than scrape_timeout gives up == 0 with a timeout, and nothing stays pending', async (t) => {
    if (!requireBinaries(t, 'prometheus')) return;
    const slow = await startExporter({ delayMs: 3000 });
    cleanups.push(() => slow.close());
    const { proxy } = await stack(t, ['127.0.0.1']);
    const prom = await prometheus(config('2s', '1s', job('slow', proxy.port, [`127.0.0.1:${slow.port}`])));
    const { value: down } = await prom.waitHealth(`127.0.0.1:${slow.port}`, 'down', 20_000);
    t.diagnostic(`lastError: ${down.lastError}`);
    assert.match(down.lastError, /timeout|deadline/i);
    await prom.proc.stop('SIGTERM');
    const end = Date.now() + 5000;
    let pending = NaN;
    let active = NaN;
    while (Date.now() < end) {
      pending = await metricValue(proxy.url, 'pushprox_proxy_pending_scrapes');
      active = await metricValue(proxy.url, 'pushprox_proxy_active_scrapes');
      if (pending === 0 && active === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(pending, 0);
    assert.equal(active, 0);
  });

  test('7. twenty clients scraped every second with zero failed scrapes', async (t) => {
    if (!requireBinaries(t, 'prometheus')) return;
    const hosts = Array.from({ length: 20 }, (_, i) => `127.0.0.${10 + i}`);
    const port = await freePort();
    const exporters: TestExporter[] = [];
    for (const h of hosts) exporters.push(await startExporter({ host: h, port }));
    cleanups.push(() => Promise.all(exporters.map((e) => e.close())));
    const { proxy } = await stack(t, hosts);
    const prom = await prometheus(config('1s', '1s', job('fleet', proxy.port, hosts.map((h) => `${h}:${port}`))));
    await prom.waitFor('all 20 up', 30_000, () => value(prom, 'count(up{job="fleet"} == 1) == 20'));
    const start = Date.now();
    const errors = new Set<string>();
    while (Date.now() - start < 15_000) {
      for (const x of await prom.targets()) if (x.lastError) errors.add(`${x.scrapeUrl}: ${x.lastError}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const window = `${Math.floor((Date.now() - start) / 1000)}s`;
    if (errors.size > 0) t.diagnostic(`scrape errors seen: ${[...errors].join('; ')}`);
    const total = await value(prom, `sum(count_over_time(up{job="fleet"}[${window}]))`);
    // One query, one evaluation time: two queries over a sliding window may see different scrapes.
    const failed = await value(prom, `sum(count_over_time(up{job="fleet"}[${window}])) - sum(sum_over_time(up{job="fleet"}[${window}]))`);
    t.diagnostic(`${total} scrapes of 20 clients in ${window}, ${failed} failed`);
    assert.ok(total !== undefined && total >= 20 * 12, `only ${total} scrapes`);
    assert.equal(failed, 0, 'zero failed scrapes');
  });

  test('8. an upstream-protocol client is scraped alongside ours', async (t) => {
    if (!requireBinaries(t, 'prometheus')) return;
    const exp1 = await startExporter({ host: '127.0.0.1' });
    const exp2 = await startExporter({ host: '127.0.0.2' });
    cleanups.push(() => exp1.close(), () => exp2.close());
    const { proxy } = await stack(t, ['127.0.0.1']);
    const legacy = new LegacyClient(proxy.url, '127.0.0.2');
    t.after(() => legacy.stop());
    await waitRegistered(proxy.url, '127.0.0.2');
    const prom = await prometheus(config('1s', '900ms', job('mixed', proxy.port, [`127.0.0.1:${exp1.port}`, `127.0.0.2:${exp2.port}`])));
    await prom.waitFor('both up', 20_000, () => value(prom, 'count(up{job="mixed"} == 1) == 2'));
    await new Promise((r) => setTimeout(r, 5000));
    const failed = await value(prom, 'sum(count_over_time(up{job="mixed"}[5s])) - sum(sum_over_time(up{job="mixed"}[5s]))');
    t.diagnostic(`legacy client pushes ${legacy.pushes}, poll errors ${legacy.pollErrors}, failed scrapes ${failed}`);
    assert.equal(failed, 0);
    assert.ok(legacy.pushes >= 4);
  });
});
