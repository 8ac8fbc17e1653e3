import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { requireBinaries } from '../src/binaries.js';
import { DEMO_BODY, startExporter } from '../src/exporter.js';
import { scrapeVia } from '../src/http.js';
import { startNginx } from '../src/nginx.js';
import { killAll, startClientProc, startProxyProc, type Proc } from '../src/procs.js';
import { metricValue, waitRegistered } from '../src/proxy-api.js';

/**
 * Our client behind nginx, the reverse proxy upstream tells operators to put
 * in front of the proxy. The client's channel is on by default, so a plain
 * nginx set-up (which does not pass upgrades on) must leave it polling, with
 * a warning that says what to do, and the README's set-up must carry it.
 */

after(killAll);

/** Proxy, nginx in front with `locations`, the exporter, and a client that reaches the proxy through nginx. */
async function behindNginx(t: TestContext, locations: (proxyUrl: string) => string): Promise<{ client: Proc; scrape: () => Promise<void>; proxyUrl: string }> {
  const proxy = await startProxyProc();
  t.after(() => proxy.stop());
  const nginx = await startNginx(locations(proxy.url));
  t.after(() => nginx.stop());
  const exporter = await startExporter();
  t.after(() => exporter.close());
  const client = startClientProc(nginx.url, '127.0.0.1');
  t.after(() => client.stop());
  await waitRegistered(proxy.url, '127.0.0.1', { client });
  const scrape = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) {
      const r = await scrapeVia(proxy.port, `${exporter.url}/metrics`, { timeoutSecs: 5 });
      assert.equal(r.status, 200, `scrape ${i} through proxy and nginx: ${r.status} ${r.body.toString().slice(0, 200)}`);
      assert.equal(r.body.toString(), DEMO_BODY);
    }
  };
  return { client, scrape, proxyUrl: proxy.url };
}

test('behind a plain nginx proxy_pass, which drops the upgrade, the default client polls and warns what to do', async (t) => {
  if (!requireBinaries(t, 'nginx')) return;
  const { client, scrape, proxyUrl } = await behindNginx(t, (proxyUrl) => `    location / { proxy_pass ${proxyUrl}; }`);
  const refusal = await client.waitFor(/msg="Proxy offers a channel but it could not be opened; polling instead".*/);
  assert.match(refusal[0], /--no-proxy\.channel/);
  // The proxy's 400 names the cause.
  assert.match(refusal[0], /status 400: .*dropped the upgrade/);
  await scrape();
  assert.equal(await metricValue(proxyUrl, 'pushprox_proxy_channels'), 0);
  assert.doesNotMatch(client.output, /scrapes now come over it/);
});

test('behind nginx set up as the README says, the default client\'s scrapes come over a channel', async (t) => {
  if (!requireBinaries(t, 'nginx')) return;
  const { client, scrape, proxyUrl } = await behindNginx(
    t,
    (proxyUrl) =>
      `    location / { proxy_pass ${proxyUrl}; }\n` +
      `    location = /poll { proxy_pass ${proxyUrl}; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"; }`,
  );
  await client.waitFor(/scrapes now come over it/);
  await scrape();
  // A channel that takes a scrape has the client open one more for the next (up to --scrape.concurrency).
  const channels = await metricValue(proxyUrl, 'pushprox_proxy_channels');
  assert.ok(channels >= 1 && channels <= 8, `channels through nginx: ${channels}`);
  // Every waiting "poll" is a channel: the poller stopped once the first one opened.
  const end = Date.now() + 2000;
  let waiting = await metricValue(proxyUrl, 'pushprox_proxy_waiting_polls');
  while (waiting !== channels && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    waiting = await metricValue(proxyUrl, 'pushprox_proxy_waiting_polls');
  }
  assert.equal(waiting, channels, `waiting polls ${waiting}, channels ${channels}`);
  assert.doesNotMatch(client.output, /could not be opened|Lost every channel|Error polling/);
});
