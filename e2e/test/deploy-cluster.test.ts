import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { requireBinaries, BINARIES } from '../src/binaries.js';
import { composeCommand } from '../src/compose.js';
import { startExporter } from '../src/exporter.js';
import { getUrl, scrapeVia } from '../src/http.js';
import { freePort, waitListening } from '../src/ports.js';
import { CLIENT_BIN, Proc, killAll, startProxyProc } from '../src/procs.js';
import { waitRoutes, type NatsNode } from '../src/nats.js';
import { waitRegistered } from '../src/proxy-api.js';

/**
 * docker-compose.yml's `cluster` profile, run without Docker (no engine on
 * the machines that run the tests): the commands of its three NATS nodes,
 * its two proxies and its second client, each host name of the compose
 * network mapped to an address of its own on loopback. A scrape sent to
 * proxy-c reaches the client that polls proxy-b, as the file's comment says.
 */

after(killAll);

/** Compose host -> loopback address; NATS keeps its own ports, as on the compose network. */
const HOSTS: Readonly<Record<string, string>> = { 'nats-1': '127.0.0.41', 'nats-2': '127.0.0.42', 'nats-3': '127.0.0.43' };
const onLoopback = (arg: string): string => arg.replace(/\b(nats-[123])(?=:\d)/g, (h) => HOSTS[h]!);

test("docker-compose.yml's cluster profile: its NATS nodes route, its proxies join, and a scrape sent to proxy-c reaches client-b on proxy-b", async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  const nodes: NatsNode[] = [];
  for (const name of ['nats-1', 'nats-2', 'nats-3']) {
    const host = HOSTS[name]!;
    // The image listens on 0.0.0.0:4222 and routes on the --cluster address; here each node has its own address.
    const args = composeCommand(name).map((a) => onLoopback(a.replace('0.0.0.0', host)));
    assert.ok(args.some((a) => a.startsWith('--routes=')), `${name} routes to the others: ${args.join(' ')}`);
    const monitor = await freePort(host);
    const proc = new Proc(name, BINARIES.natsServer, ['-a', host, '-p', '4222', '-m', String(monitor), ...args]);
    nodes.push({ name, port: 4222, clusterPort: 6222, monitorPort: monitor, monitorHost: host, url: `nats://${host}:4222`, proc });
    await waitListening(host, 4222, 15_000);
  }
  for (const n of nodes) await waitRoutes(n, 2);

  const proxyArgs = (name: string): string[] =>
    composeCommand(name)
      .filter((a) => !a.startsWith('--web.listen-address='))
      .map(onLoopback);
  assert.ok(proxyArgs('proxy-b').some((a) => a === '--cluster.nats-url=nats://127.0.0.41:4222,nats://127.0.0.42:4222,nats://127.0.0.43:4222'));
  const proxyB = await startProxyProc(proxyArgs('proxy-b'));
  const proxyC = await startProxyProc(proxyArgs('proxy-c'));
  await proxyB.waitFor(/Cluster: connected to NATS/, 15_000);
  await proxyC.waitFor(/Cluster: connected to NATS/, 15_000);

  const exporter = await startExporter();
  t.after(() => exporter.close());
  const cmd = composeCommand('client-b');
  assert.ok(cmd.includes('--proxy-url=http://proxy-b:8080/') && cmd.includes('--fqdn=node-exporter'), cmd.join(' '));
  // node-exporter is a compose host name: the client scrapes the test exporter on 127.0.0.1 instead.
  const client = new Proc('client-b', process.execPath, [
    CLIENT_BIN,
    ...cmd.map((a) => (a.startsWith('--proxy-url=') ? `--proxy-url=${proxyB.url}/` : a)),
    '--use-localhost',
    `--allow-port=${exporter.port}`,
  ]);
  await waitRegistered(proxyB.url, 'node-exporter', { client, timeoutMs: 10_000 });

  // proxy-c learns of it over NATS and forwards the scrape.
  const end = Date.now() + 10_000;
  let listed = '';
  while (Date.now() < end && !listed.includes('node-exporter')) {
    listed = (await getUrl(`${proxyC.url}/clients`)).body.toString();
    if (!listed.includes('node-exporter')) await new Promise((r) => setTimeout(r, 200));
  }
  assert.match(listed, /"node-exporter"/, `proxy-c's /clients: ${listed}`);
  const r = await scrapeVia(proxyC.port, `http://node-exporter:${exporter.port}/metrics`, { timeoutSecs: 5, headers: { 'Accept-Encoding': 'identity' } });
  assert.equal(r.status, 200, r.body.toString());
  assert.match(r.body.toString(), /demo_metric/);
});
