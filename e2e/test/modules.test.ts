import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requireBinaries } from '../src/binaries.js';
import { startExporter } from '../src/exporter.js';
import { startNodeExporter } from '../src/node-exporter.js';
import { freePort } from '../src/ports.js';
import { CLIENT_BIN, killAll, Proc, startClientProc, startProxyProc } from '../src/procs.js';
import { Prometheus } from '../src/prometheus.js';
import { waitRegistered } from '../src/proxy-api.js';

/**
 * Modules (exporter_exporter YAML, openITCOCKPIT .ini) scraped by Debian's
 * Prometheus through our proxy and client, with node_exporter as the http
 * module. Prometheus is driven only by its config and read through its API.
 */

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await killAll();
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function moduleJob(name: string, proxyPort: number, pathName: '/proxy' | '/prometheus', param: string): string {
  return `  - job_name: ${name}
    proxy_url: http://127.0.0.1:${proxyPort}/
    metrics_path: ${pathName}
    params:
      ${pathName === '/proxy' ? 'module' : 'exporter'}: [${param}]
    static_configs:
      - targets: ['127.0.0.1']
`;
}

describe('modules with a real Prometheus', () => {
  test('http, exec and file modules, an .ini with two exporters, invalid output (up == 0 with the line), a 1 GB command cut and killed, and a reload that adds a module', { timeout: 120_000 }, async (t) => {
    if (!requireBinaries(t, 'prometheus', 'nodeExporter')) return;
    const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-e2e-modules-'));
    const nePort = await freePort();
    const ne = await startNodeExporter('127.0.0.1', nePort);
    cleanups.push(() => ne.stop());
    const second = await startExporter();
    cleanups.push(() => second.close());
    const script = (name: string, body: string): string => {
      const file = path.join(dir, name);
      writeFileSync(file, `#!${process.execPath}\n${body}\n`, { mode: 0o755 });
      return file;
    };
    const ok = script('ok.sh', `process.stdout.write('# TYPE script_value gauge\\nscript_value{arg="' + (process.argv[2] || '') + '"} 7\\n');`);
    const bad = script('bad.sh', `process.stdout.write('script_value 1\\nthis is not a metric\\n');`);
    const flood = script(
      'flood.sh',
      `require('fs').writeFileSync(${JSON.stringify(path.join(dir, 'flood.pid'))}, String(process.pid));
       const chunk = Buffer.from('flood_metric 1\\n'.repeat(4096)); let sent = 0;
       function go() { while (sent < 1024 ** 3) { sent += chunk.length; if (!process.stdout.write(chunk)) return process.stdout.once('drain', go); } }
       go();`,
    );
    writeFileSync(path.join(dir, 'text.prom'), '# TYPE textfile_value gauge\ntextfile_value 3\n');
    const yaml = (extra: string): string => `modules:
  node: { method: http, http: { port: ${nePort} } }
  script: { method: exec, timeout: 5s, exec: { command: ${JSON.stringify(ok)}, args: [fromconfig] } }
  bad: { method: exec, exec: { command: ${JSON.stringify(bad)} } }
  flood: { method: exec, exec: { command: ${JSON.stringify(flood)} } }
  textfile: { method: file, file: { path: ${JSON.stringify(path.join(dir, 'text.prom'))} } }
${extra}`;
    writeFileSync(path.join(dir, 'expexp.yaml'), yaml(''));
    writeFileSync(
      path.join(dir, 'prometheus_exporters.ini'),
      `[node_exporter]\nenabled = True\nmethod = http\nport = ${nePort}\npath = /metrics\ninterval = 15\ntimeout = 5\n\n[demo_exporter]\nenabled = True\nmethod = http\nport = ${second.port}\npath = /metrics\n\n[disabled]\nenabled = False\nport = 1\n`,
    );
    const proxy = await startProxyProc(['--push.max-body-size=4MB']);
    cleanups.push(() => proxy.stop('SIGKILL'));
    const client = startClientProc(proxy.url, '127.0.0.1', [
      `--config.file=${path.join(dir, 'expexp.yaml')},${path.join(dir, 'prometheus_exporters.ini')}`,
      // No module port is listed: modules do not need --allow-port.
      '--allow-port=1',
    ]);
    cleanups.push(() => client.stop('SIGKILL'));
    await waitRegistered(proxy.url, ['127.0.0.1']);
    const jobs = [
      moduleJob('node', proxy.port, '/proxy', 'node'),
      moduleJob('script', proxy.port, '/proxy', 'script'),
      moduleJob('textfile', proxy.port, '/proxy', 'textfile'),
      moduleJob('bad', proxy.port, '/proxy', 'bad'),
      moduleJob('flood', proxy.port, '/proxy', 'flood'),
      moduleJob('oitc-node', proxy.port, '/prometheus', 'node_exporter'),
      moduleJob('oitc-demo', proxy.port, '/prometheus', 'demo_exporter'),
      moduleJob('added', proxy.port, '/proxy', 'added'),
    ].join('');
    const prom = await Prometheus.start(`global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n${jobs}`);
    cleanups.push(() => prom.stop());
    const up = async (job: string): Promise<number | undefined> => (await prom.query(`up{job="${job}"}`))[0]?.value;
    for (const job of ['node', 'script', 'textfile', 'oitc-node', 'oitc-demo']) {
      await prom.waitFor(`${job} up`, 30_000, async () => ((await up(job)) === 1 ? true : undefined));
    }
    assert.equal((await prom.query('node_exporter_build_info{job="node"}')).length, 1);
    assert.equal((await prom.query('script_value{job="script",arg="fromconfig"}'))[0]?.value, 7);
    assert.equal((await prom.query('textfile_value{job="textfile"}'))[0]?.value, 3);
    assert.equal((await prom.query('demo_metric{job="oitc-demo",i="7"}'))[0]?.value, 7);

    const badTarget = await prom.waitHealth('module=bad', 'down', 20_000);
    t.diagnostic(`bad module: ${badTarget.value.lastError}`);
    assert.match(badTarget.value.lastError, /invalid metrics output at line 2/);
    assert.equal(await up('bad'), 0);

    // 1 GB of output: cut at the proxy's --push.max-body-size, the command's process group killed.
    const floodTarget = await prom.waitHealth('module=flood', 'down', 20_000);
    t.diagnostic(`flood module: ${floodTarget.value.lastError}`);
    const floodPid = Number(readFileSync(path.join(dir, 'flood.pid'), 'utf8'));
    await prom.waitFor('flooding command killed', 10_000, async () => (alive(floodPid) ? undefined : true));

    assert.equal(await up('added'), 0);
    writeFileSync(path.join(dir, 'expexp.yaml'), yaml(`  added: { method: http, http: { port: ${second.port} } }\n`));
    client.child.kill('SIGHUP');
    await client.waitFor(/Reloaded module configuration/);
    await prom.waitFor('added up', 20_000, async () => ((await up('added')) === 1 ? true : undefined));
    assert.equal(client.running, true);
  });
});

describe('direct mode with a real Prometheus', () => {
  test('without a proxy, Prometheus scrapes the client as it scrapes exporter_exporter (metrics_path /proxy, params module) and the agent (/prometheus, params exporter)', { timeout: 60_000 }, async (t) => {
    if (!requireBinaries(t, 'prometheus', 'nodeExporter')) return;
    const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-e2e-direct-'));
    const nePort = await freePort();
    const ne = await startNodeExporter('127.0.0.1', nePort);
    cleanups.push(() => ne.stop());
    writeFileSync(path.join(dir, 'expexp.yaml'), `modules:\n  node:\n    method: http\n    http:\n      port: ${nePort}\n`);
    writeFileSync(path.join(dir, 'prometheus_exporters.ini'), `[node_exporter]\nenabled = True\nmethod = http\nport = ${nePort}\npath = /metrics\n`);
    const webPort = await freePort();
    // No --proxy-url: the binary swapped in for exporter_exporter serves the modules alone.
    const client = new Proc('pushprox-client (direct only)', process.execPath, [
      CLIENT_BIN,
      '--metrics-addr=',
      `--config.file=${path.join(dir, 'expexp.yaml')},${path.join(dir, 'prometheus_exporters.ini')}`,
      `--web.listen-address=127.0.0.1:${webPort}`,
    ]);
    cleanups.push(() => client.stop('SIGKILL'));
    await client.waitFor(/Serving modules directly/);
    // exporter_exporter's README job, unchanged but for the address.
    const prom = await Prometheus.start(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: 'node'
    metrics_path: /proxy
    params:
      module:
        - node
    static_configs:
      - targets: ['127.0.0.1:${webPort}']
  - job_name: 'oitc'
    metrics_path: /prometheus
    params:
      exporter: [node_exporter]
    static_configs:
      - targets: ['127.0.0.1:${webPort}']
`);
    cleanups.push(() => prom.stop());
    for (const job of ['node', 'oitc']) {
      await prom.waitFor(`${job} up`, 30_000, async () => ((await prom.query(`up{job="${job}"}`))[0]?.value === 1 ? true : undefined));
    }
    assert.equal((await prom.query('node_exporter_build_info{job="node"}')).length, 1);
    assert.equal((await prom.query('node_exporter_build_info{job="oitc"}')).length, 1);
  });
});
