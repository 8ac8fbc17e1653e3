import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requireBinaries } from '../src/binaries.js';
import { DEMO_BODY, startExporter } from '../src/exporter.js';
import { scrapeVia } from '../src/http.js';
import { killAll, startClientProc, startProxyProc, type Proc } from '../src/procs.js';
import { makePki } from '../src/pki.js';
import { metricValue, waitRegistered } from '../src/proxy-api.js';
import { startSquid, type Squid } from '../src/squid.js';

/**
 * Our client behind a forward proxy (HTTP_PROXY), as on hosts whose only way
 * out is a corporate proxy: Debian's squid. The client reaches the proxy by a
 * name only squid knows (PROXY_NAME, from squid's own hosts file), since the
 * client, as Go's ProxyFromEnvironment, never sends localhost or a loopback
 * address through a forward proxy; Prometheus' side reaches it on 127.0.0.1. A squid that does not pass the channel's
 * upgrade on must leave the default client polling through it; one that does
 * must carry the channel. With an https proxy URL the client tunnels through
 * CONNECT, so squid never sees the upgrade and the channel goes through a
 * squid that does not pass upgrades on.
 */

const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-e2e-fwd-'));
after(async () => {
  await killAll();
  rmSync(dir, { recursive: true, force: true });
});

const PROXY_NAME = 'pushprox-proxy.test';

interface Setup {
  readonly client: Proc;
  readonly squid: Squid;
  /** The proxy's URL as the client has it (PROXY_NAME). */
  readonly proxyUrl: string;
  /** The proxy's URL on 127.0.0.1, as Prometheus and these tests reach it. */
  readonly directUrl: string;
  readonly proxyPort: number;
  /** With `tls`: the CA the proxy's certificate is from. */
  readonly ca: Buffer | undefined;
  scrape(): Promise<void>;
}

/**
 * Our proxy (on https with `tls`, a certificate from `pushprox-proxy pki` for
 * 127.0.0.1 and PROXY_NAME), squid with `squidConf`, and our default client
 * given the proxy as PROXY_NAME, so that it sends everything for it through squid.
 */
async function behindSquid(t: TestContext, squidConf: readonly string[], opts: { tls?: boolean } = {}): Promise<Setup> {
  const tlsArgs: string[] = [];
  const clientArgs: string[] = [];
  let ca: Buffer | undefined;
  if (opts.tls) {
    const pki = await makePki(path.join(dir, 'pki'), [], ['127.0.0.1', PROXY_NAME]);
    const web = path.join(dir, 'web.yml');
    writeFileSync(web, `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.serverKey}\n`);
    tlsArgs.push(`--web.config.file=${web}`);
    clientArgs.push(`--tls.cacert=${pki.ca}`);
    ca = readFileSync(pki.ca);
  }
  const proxy = await startProxyProc(tlsArgs);
  t.after(() => proxy.stop());
  const scheme = ca ? 'https' : 'http';
  const proxyUrl = `${scheme}://${PROXY_NAME}:${proxy.port}`;
  const directUrl = `${scheme}://127.0.0.1:${proxy.port}`;
  const squid = await startSquid(squidConf, { [PROXY_NAME]: '127.0.0.1' });
  t.after(() => squid.stop());
  const exporter = await startExporter();
  t.after(() => exporter.close());
  const env = { HTTP_PROXY: squid.url, http_proxy: squid.url, HTTPS_PROXY: squid.url, https_proxy: squid.url, NO_PROXY: '', no_proxy: '' };
  const client = startClientProc(proxyUrl, '127.0.0.1', clientArgs, { env });
  t.after(() => client.stop());
  await waitRegistered(directUrl, '127.0.0.1', { client, ca });
  const scrape = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) {
      const r = await scrapeVia(proxy.port, `${exporter.url}/metrics`, { timeoutSecs: 5, ca });
      assert.equal(r.status, 200, `scrape ${i} through squid: ${r.status} ${r.body.toString().slice(0, 200)}`);
      assert.equal(r.body.toString(), DEMO_BODY);
    }
  };
  return { client, squid, proxyUrl, directUrl, proxyPort: proxy.port, ca, scrape };
}

test('through a forward proxy that drops the upgrade, the default client polls through it', async (t) => {
  if (!requireBinaries(t, 'squid')) return;
  const { client, squid, proxyUrl, directUrl, scrape } = await behindSquid(t, []);
  const refusal = await client.waitFor(/msg="Proxy offers a channel but it could not be opened; polling instead".*/);
  assert.match(refusal[0], /--no-proxy\.channel/);
  // The proxy's 400 names the cause.
  assert.match(refusal[0], /status 400: .*dropped the upgrade/);
  await scrape();
  assert.equal(await metricValue(directUrl, 'pushprox_proxy_channels'), 0);
  // The polls and pushes went through squid, in absolute form.
  // Squid logs each request once it ends.
  const log = await squid.waitForAccess(new RegExp(`POST ${proxyUrl}/push `));
  assert.match(log, new RegExp(`POST ${proxyUrl}/poll `));
  assert.doesNotMatch(client.output, /scrapes now come over it/);
});

test('through a forward proxy that passes "Upgrade: pushprox-channel/1" on, the default client\'s scrapes come over a channel', async (t) => {
  if (!requireBinaries(t, 'squid')) return;
  const { client, squid, proxyUrl, directUrl, scrape } = await behindSquid(t, ['http_upgrade_request_protocols pushprox-channel/1 allow all']);
  await client.waitFor(/scrapes now come over it/);
  await scrape();
  const channels = await metricValue(directUrl, 'pushprox_proxy_channels');
  assert.ok(channels >= 1 && channels <= 8, `channels through squid: ${channels}`);
  assert.doesNotMatch(client.output, /could not be opened|Lost every channel|Error polling/);
  // Squid logs an upgraded request once its tunnel ends: stop the client, and every channel did go through squid.
  await client.stop();
  const log = await squid.waitForAccess(new RegExp(`GET ${proxyUrl}/poll `));
  assert.doesNotMatch(log, new RegExp(`POST ${proxyUrl}/push `));
});

test('through a forward proxy that drops upgrades, a client of an https proxy URL tunnels with CONNECT and its scrapes come over a channel', async (t) => {
  if (!requireBinaries(t, 'squid')) return;
  const { client, squid, directUrl, proxyPort, ca, scrape } = await behindSquid(t, [], { tls: true });
  await client.waitFor(/scrapes now come over it/);
  await scrape();
  const channels = await metricValue(directUrl, 'pushprox_proxy_channels', { ca });
  assert.ok(channels >= 1 && channels <= 8, `channels through squid's CONNECT tunnel: ${channels}`);
  assert.doesNotMatch(client.output, /could not be opened|Lost every channel|Error polling/);
  // Squid logs a tunnel once it ends: stop the client, and its connections to the proxy were tunnels through squid.
  await client.stop();
  const log = await squid.waitForAccess(new RegExp(`TCP_TUNNEL/200 \\d+ CONNECT ${PROXY_NAME.replaceAll('.', '\\.')}:${proxyPort} `));
  // Squid saw no request to the proxy other than CONNECT: nothing went around the tunnel in plain HTTP.
  assert.doesNotMatch(log, new RegExp(`(GET|POST) \\S*${PROXY_NAME.replaceAll('.', '\\.')}:${proxyPort}`));
});
