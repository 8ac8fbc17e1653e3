/**
 * Restarts without losing clients (docs/operations.md, Restarts): on shutdown our proxy
 * tells our clients to reconnect, and they are back at the next proxy on the same address
 * within about a second of it listening, on a channel again at once (no channel back-off),
 * with the default retry flags. In-process proxy and clients on loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { silentLogger, type Logger } from '@pushprox/shared';
import { resolveProxyConfig, startProxy, type RunningProxy } from '@pushprox/proxy';
import { parseClientArgs, resolveConfig, startClient } from '@pushprox/client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number, what: string): Promise<number> {
  const start = performance.now();
  while (!cond()) {
    if (performance.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
  return performance.now() - start;
}

function recording(lines: string[]): Logger {
  const log = (level: string) => (msg: string, fields?: Record<string, unknown>) => lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`);
  return { ...silentLogger, warn: log('warn'), info: log('info'), error: log('error') };
}

const proxyAt = async (listen: string): Promise<RunningProxy> =>
  startProxy(await resolveProxyConfig([`--web.listen-address=${listen}`, '--shutdown.timeout=5s']), { logger: silentLogger });

const waiting = (proxy: RunningProxy, fqdn: string): boolean => proxy.coordinator.registry.list().includes(fqdn) && proxy.coordinator.stats().waitingPolls > 0;

test('proxy shutdown and restart on the same address: our clients (channel and polling) are back within about a second of it listening', { timeout: 60_000 }, async (t) => {
  let proxy = await proxyAt('127.0.0.1:0');
  const listen = `127.0.0.1:${proxy.address.port}`;
  t.after(() => proxy.close());
  const lines: string[] = [];
  const start = async (fqdn: string, extra: string[]) =>
    startClient(await resolveConfig(await parseClientArgs([`--proxy-url=${proxy.url}`, `--fqdn=${fqdn}`, '--metrics-addr=', ...extra], 'test')), {
      logger: recording(lines),
    });
  const viaChannel = await start('host-ch', []);
  t.after(() => viaChannel.stop());
  const viaPolls = await start('host-poll', ['--no-proxy.channel']);
  t.after(() => viaPolls.stop());
  await until(() => viaChannel.pollMode === 'channel' && waiting(proxy, 'host-poll'), 10_000, 'both clients waiting');

  for (let round = 0; round < 2; round++) {
    // Polls held a moment, as in service (a reconnect reply to a poll sent just before is spaced by the backoff).
    await sleep(1_100);
    await proxy.close();
    // As a supervisor restarting the service: the next process listens a moment later.
    await sleep(300);
    proxy = await proxyAt(listen);
    const back = await until(() => waiting(proxy, 'host-ch') && waiting(proxy, 'host-poll'), 5_000, 'both clients back');
    t.diagnostic(`round ${round}: both clients back ${back.toFixed(0)} ms after the proxy listened`);
    assert.ok(back < 1_500, `round ${round}: clients back ${back.toFixed(0)} ms after the proxy listened`);
    // A handover is no channel failure: the channel comes back without the 60 s channel back-off.
    await until(() => viaChannel.pollMode === 'channel', 5_000, 'the channel back');
  }
  assert.ok(lines.some((l) => l.includes('Proxy is shutting down; reconnecting') && l.includes('"channel":true')), lines.join('\n'));
  assert.ok(lines.some((l) => l.includes('Proxy is shutting down; reconnecting') && !l.includes('"channel"')), lines.join('\n'));
});
