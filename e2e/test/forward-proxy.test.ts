import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { requireBinaries } from '../src/binaries.js';
import { DEMO_BODY, startExporter } from '../src/exporter.js';
import { scrapeVia } from '../src/http.js';
import { killAll, startClientProc, startProxyProc, type Proc } from '../src/procs.js';
import { metricValue, waitRegistered } from '../src/proxy-api.js';
import { startSquid, type Squid } from '../src/squid.js';

/**
 * Our client behind a forward proxy (HTTP_PROXY), as on hosts whose only way
 * out is a corporate proxy: Debian's squid. The proxy listens on 127.0.0.2,
 * since the client, as Go's ProxyFromEnvironment, never sends 127.0.0.1 or
 * localhost through a forward proxy. A squid that does not pass the channel's
 * upgrade on must leave the default client polling through it; one that does
 * must carry the channel.
 */

after(killAll);

const PROXY_HOST = '127.0.0.2';

interface Setup {
  readonly client: Proc;
  readonly squid: Squid;
  readonly proxyUrl: string;
  scrape(): Promise<void>;
}

async function behindSquid(t: TestContext, squidConf: readonly string[]): Promise<Setup> {
  const proxy = await startProxyProc([`--web.listen-address=${PROXY_HOST}:0`]);
  t.after(() => proxy.stop());
  const squid = await startSquid(squidConf);
  t.after(() => squid.stop());
  const exporter = await startExporter();
  t.after(() => exporter.close());
  const client = startClientProc(proxy.url, '127.0.0.1', [], { env: { HTTP_PROXY: squid.url, http_proxy: squid.url, NO_PROXY: '', no_proxy: '' } });
  t.after(() => client.stop());
  await waitRegistered(proxy.url, '127.0.0.1', { client });
  const scrape = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) {
      const r = await scrapeVia(proxy.port, `${exporter.url}/metrics`, { timeoutSecs: 5, proxyHost: PROXY_HOST });
      assert.equal(r.status, 200, `scrape ${i} through squid: ${r.status} ${r.body.toString().slice(0, 200)}`);
      assert.equal(r.body.toString(), DEMO_BODY);
    }
  };
  return { client, squid, proxyUrl: proxy.url, scrape };
}

test('through a forward proxy that drops the upgrade, the default client polls through it', async (t) => {
  if (!requireBinaries(t, 'squid')) return;
  const { client, squid, proxyUrl, scrape } = await behindSquid(t, []);
  const refusal = await client.waitFor(/msg="Proxy offers a channel but it could not be opened; polling instead".*/);
  assert.match(refusal[0], /--no-proxy\.channel/);
  // The proxy's 400 names the cause.
  assert.match(refusal[0], /status 400: .*dropped the upgrade/);
  await scrape();
  assert.equal(await metricValue(proxyUrl, 'pushprox_proxy_channels'), 0);
  // The polls and pushes went through squid, in absolute form.
  // Squid logs each request once it ends.
  const log = await squid.waitForAccess(new RegExp(`POST ${proxyUrl}/push `));
  assert.match(log, new RegExp(`POST ${proxyUrl}/poll `));
  assert.doesNotMatch(client.output, /scrapes now come over it/);
});

test('through a forward proxy that passes "Upgrade: pushprox-channel/1" on, the default client\'s scrapes come over a channel', async (t) => {
  if (!requireBinaries(t, 'squid')) return;
  const { client, squid, proxyUrl, scrape } = await behindSquid(t, ['http_upgrade_request_protocols pushprox-channel/1 allow all']);
  await client.waitFor(/scrapes now come over it/);
  await scrape();
  const channels = await metricValue(proxyUrl, 'pushprox_proxy_channels');
  assert.ok(channels >= 1 && channels <= 8, `channels through squid: ${channels}`);
  assert.doesNotMatch(client.output, /could not be opened|Lost every channel|Error polling/);
  // Squid logs an upgraded request once its tunnel ends: stop the client, and every channel did go through squid.
  await client.stop();
  const log = await squid.waitForAccess(new RegExp(`GET ${proxyUrl}/poll `));
  assert.doesNotMatch(log, new RegExp(`POST ${proxyUrl}/push `));
});
