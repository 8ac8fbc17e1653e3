import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { silentLogger } from '@pushprox/shared';
import { resolveProxyConfig, startProxy } from '@pushprox/proxy';
import { parseClientArgs, resolveConfig, startClient } from '@pushprox/client';
import { startExporter } from '../src/exporter.js';
import { scrapeVia } from '../src/http.js';
import { killAll, startClientProc, startProxyProc } from '../src/procs.js';
import { metricValue, waitRegistered } from '../src/proxy-api.js';

/**
 * What a host running our client costs the proxy (issue #5): one waiting
 * poll while idle, more only while its scrapes run in parallel, and back to
 * one once the proxy's surplus linger has passed.
 */

after(killAll);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

for (const [mode, args, channels] of [['with its default channel', [], 1], ['polling (--no-proxy.channel)', ['--no-proxy.channel'], 0]] as const) {
  test(`the real programs, ${mode}: an idle client holds one poll at the proxy, not --scrape.concurrency`, async () => {
    const proxy = await startProxyProc();
    const client = startClientProc(proxy.url, '127.0.0.1', ['--scrape.concurrency=8', ...args]);
    try {
      await waitRegistered(proxy.url, '127.0.0.1', { client });
      await sleep(1000);
      const waiting = await metricValue(proxy.url, 'pushprox_proxy_waiting_polls');
      assert.equal(waiting, 1, `waiting polls of one idle client with --scrape.concurrency=8: ${waiting}`);
      // A waiting channel is counted as the waiting poll it replaces.
      assert.equal(await metricValue(proxy.url, 'pushprox_proxy_channels'), channels);
    } finally {
      await client.stop();
      await proxy.stop();
    }
  });
}

test('polling (--no-proxy.channel): parallel scrapes grow a client to one poll per scrape; after the linger it holds one poll again, and nothing is lost', async (t) => {
  const LINGER_MS = 1500;
  const proxy = await startProxy(await resolveProxyConfig(['--web.listen-address=127.0.0.1:0']), { logger: silentLogger, surplusLingerMs: LINGER_MS });
  t.after(() => proxy.close());
  // Each scrape takes 2 s at the exporter: parallelism is shown by order (all six at the
  // exporter before any is answered), not by a wall-clock window a loaded machine could miss.
  const exporter = await startExporter({ delayMs: 2000 });
  t.after(() => exporter.close());
  const args = await parseClientArgs([`--proxy-url=${proxy.url}`, '--fqdn=127.0.0.1', '--metrics-addr=', '--scrape.concurrency=8', '--no-proxy.channel'], 'test');
  const client = await startClient(await resolveConfig(args));
  t.after(() => client.stop());
  const waiting = (): number => proxy.coordinator.stats().waitingPolls;

  await until(() => client.pollMode === 'push-poll' && waiting() === 1, 5000, 'push-poll with one waiting poll');
  for (let round = 0; round < 2; round++) {
    let answered = 0;
    const pending = Array.from({ length: 6 }, () =>
      scrapeVia(proxy.address.port, `${exporter.url}/metrics`, { timeoutSecs: 20 }).then((r) => {
        answered++;
        return r;
      }),
    );
    // One after the other, the sixth would reach the exporter only after five answers.
    await until(() => exporter.requests.length === 6 * (round + 1), 15_000, 'six scrapes at the exporter');
    assert.equal(answered, 0, `round ${round}: ${answered} scrapes were answered before the sixth reached the exporter`);
    const replies = await Promise.all(pending);
    assert.deepEqual(replies.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
    await until(() => waiting() === client.pollLoops, 10_000, 'every loop waiting again');
    assert.ok(client.pollLoops >= 6 && client.pollLoops <= 8, `round ${round}: ${client.pollLoops} poll loops`);
    await until(() => waiting() === 1 && client.pollLoops === 1, LINGER_MS + 10_000, 'one poll after the linger');
  }
  // Every scrape was relayed: none timed out at the proxy, none failed at the client.
  assert.equal(proxy.coordinator.stats().activeScrapes, 0);
  assert.equal(exporter.requests.length, 12);
});
