import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { missing, requireBinaries } from '../src/binaries.js';
import { DEMO_BODY, startExporter, type TestExporter } from '../src/exporter.js';
import { drainVia, getUrl, scrapeVia } from '../src/http.js';
import { startNatsCluster, type NatsCluster } from '../src/nats.js';
import { killAll, Proc, CLIENT_BIN, startProxyProc, type ProxyProc } from '../src/procs.js';
import { registeredClients, waitRegistered } from '../src/proxy-api.js';

/**
 * Clients on NATS directly (`pushprox-client --nats-url`), behind a proxy of
 * the cluster, with nats-server's per-user subject permissions as the
 * identity check: host A's credential may take only host A's scrapes.
 */

after(killAll);

let nats: NatsCluster;
let proxy: ProxyProc;
let exporter: TestExporter;
let dir: string;

const PERMS = (fqdn: string) =>
  `{ publish: ["_INBOX.>", "pushprox.cluster.presence"], subscribe: ["pushprox.client.${fqdn}", "pushprox.reply.${fqdn}.>"] }`;

before(async () => {
  if (missing('natsServer').length > 0) return;
  dir = mkdtempSync(path.join(os.tmpdir(), 'pushprox-nats-'));
  const conf = path.join(dir, 'nats.conf');
  writeFileSync(
    conf,
    `authorization {\n  users = [\n` +
      `    { user: "proxy", password: "proxy-secret", permissions: { publish: ">", subscribe: ">" } }\n` +
      `    { user: "host-a", password: "a-secret", permissions: ${PERMS('host-a.example')} }\n` +
      `    { user: "host-b", password: "b-secret", permissions: ${PERMS('host-b.example')} }\n` +
      `    { user: "gateway", password: "g-secret", permissions: { publish: ["_INBOX.>", "pushprox.cluster.presence"], subscribe: ["pushprox.client.host-c.example", "pushprox.reply.host-c.example.>", "pushprox.client.host-d.example", "pushprox.reply.host-d.example.>"] } }\n` +
      `  ]\n}\n`,
  );
  for (const [name, secret] of [['proxy', 'proxy-secret'], ['host-a', 'a-secret'], ['host-b', 'b-secret'], ['gateway', 'g-secret']] as const) writeFileSync(path.join(dir, name), `${secret}\n`);
  nats = await startNatsCluster(1, ['-c', conf]);
  exporter = await startExporter();
  proxy = await startProxyProc([
    `--cluster.nats-url=${nats.urls}`,
    '--cluster.nats-user=proxy',
    `--cluster.nats-password-file=${path.join(dir, 'proxy')}`,
    '--cluster.announce-interval=1s',
  ]);
  await proxy.waitFor(/Cluster: connected to NATS/);
});

after(async () => {
  await exporter?.close();
  await nats?.stop();
});

/** A client on NATS for `fqdn` with `user`'s credential, scraping the test exporter's port on 127.0.0.1. */
function natsClient(fqdn: string, user: string, extra: readonly string[] = []): Proc {
  return new Proc(`pushprox-client ${fqdn} as ${user}`, process.execPath, [
    CLIENT_BIN,
    `--nats-url=${nats.urls}`,
    `--nats-user=${user}`,
    `--nats-password-file=${path.join(dir, user)}`,
    `--fqdn=${fqdn}`,
    ...extra,
    '--metrics-addr=',
    '--use-localhost',
    `--allow-port=${exporter.port}`,
  ]);
}

const scrape = (fqdn: string) => scrapeVia(proxy.port, `http://${fqdn}:${exporter.port}/metrics`, { timeoutSecs: 5, headers: { 'Accept-Encoding': 'identity' } });

test('a client on NATS directly is listed by the proxy and scraped through it, also with two replicas of it in its queue group', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  const a1 = natsClient('host-a.example', 'host-a');
  const a2 = natsClient('host-a.example', 'host-a');
  t.after(() => Promise.all([a1.stop(), a2.stop()]));
  await a1.waitFor(/Taking scrapes from NATS/);
  await a2.waitFor(/Taking scrapes from NATS/);
  await waitRegistered(proxy.url, 'host-a.example', { timeoutMs: 5000 });
  for (let i = 0; i < 10; i++) {
    const r = await scrape('host-a.example');
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.body.toString(), DEMO_BODY);
  }
  const big = await drainVia(proxy.port, `http://host-a.example:${exporter.port}/big?bytes=${20 * 1024 * 1024}`, 30);
  assert.deepEqual(big, { status: 200, bytes: 20 * 1024 * 1024 });
});

test('host A\'s credential cannot take host B\'s scrapes: its subscription is refused and B\'s scrapes fail until B\'s own client comes', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  const thief = natsClient('host-b.example', 'host-a');
  t.after(() => thief.stop());
  await thief.waitFor(/NATS subscription refused|Permissions Violation/i, 10_000);
  const stolen = await scrape('host-b.example');
  assert.equal(stolen.status, 500, `a scrape of host B with only host A's credential around: ${stolen.status} ${stolen.body.toString()}`);
  assert.doesNotMatch(stolen.body.toString(), /demo_metric/);
  const b = natsClient('host-b.example', 'host-b');
  t.after(() => b.stop());
  await b.waitFor(/Taking scrapes from NATS/);
  const end = Date.now() + 10_000;
  let r = await scrape('host-b.example');
  while (r.status !== 200 && Date.now() < end) {
    await new Promise((res) => setTimeout(res, 200));
    r = await scrape('host-b.example');
  }
  assert.equal(r.status, 200, r.body.toString());
  assert.ok((await registeredClients(proxy.url)).includes('host-b.example'));
});

test('a gateway on NATS takes the scrapes of each of its FQDNs, and its modules answer /proxy?module= through the proxy', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  const modules = path.join(dir, 'modules.yaml');
  writeFileSync(modules, `modules:\n  demo: { method: http, http: { port: ${exporter.port} } }\n`);
  const gw = natsClient('host-c.example', 'gateway', ['--fqdn=host-d.example', `--config.file=${modules}`, '--label=site=edge']);
  t.after(() => gw.stop());
  await gw.waitFor(/Taking scrapes from NATS/);
  await waitRegistered(proxy.url, ['host-c.example', 'host-d.example'], { timeoutMs: 5000 });
  for (const fqdn of ['host-c.example', 'host-d.example']) {
    const r = await scrape(fqdn);
    assert.equal(r.status, 200, `${fqdn}: ${r.body.toString()}`);
    assert.equal(r.body.toString(), DEMO_BODY);
    const m = await scrapeVia(proxy.port, `http://${fqdn}/proxy?module=demo`, { timeoutSecs: 5, headers: { 'Accept-Encoding': 'identity' } });
    assert.equal(m.status, 200, `${fqdn} module demo: ${m.body.toString()}`);
    assert.equal(m.body.toString(), DEMO_BODY);
  }
  // Its labels and modules reach the proxy with its presence: /clients gives each FQDN's module a target group.
  const groups = JSON.parse((await getUrl(`${proxy.url}/clients`)).body.toString()) as Array<{ targets: string[]; labels: Record<string, string> }>;
  for (const fqdn of ['host-c.example', 'host-d.example']) {
    const g = groups.find((x) => x.targets.includes(fqdn) && x.labels['__param_module'] === 'demo');
    assert.ok(g, `a target group for ${fqdn}'s module demo in ${JSON.stringify(groups)}`);
    assert.equal(g.labels['site'], 'edge');
  }
  const unknown = await scrapeVia(proxy.port, 'http://host-d.example/proxy?module=nope', { timeoutSecs: 5 });
  assert.notEqual(unknown.status, 200, 'an unknown module is not a successful scrape');
});
