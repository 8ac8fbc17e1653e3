import { performance } from 'node:perf_hooks';
import { getUrl } from '../src/http.js';
import { startProxyProc } from '../src/procs.js';
import { metricValue } from '../src/proxy-api.js';
import { idleConns, type IdleMode } from './idle-conns.js';
import { cpuSecondsOf, rssOf } from './procstat.js';
import { median } from './stats.js';

/**
 * Scenario iv: `n` idle clients on one proxy, played by a built-in load
 * client that speaks the client protocol itself (idle-conns.ts: one
 * keep-alive connection and one waiting poll per client, or one channel, as
 * our client holds by default; each from its own 127.x.y.z address), so that
 * 10,000 clients fit on one machine. Measures proxy memory per client,
 * /clients latency, and the CPU and poll churn of a window with no scrapes.
 *
 * Memory is read twice: 2 s after the last poll arrived, which still holds
 * the garbage and the grown young generation of the connection burst, and at
 * the end of the idle window, once V8's memory reducer has run (it shrinks
 * the heap some seconds after allocation stops): what idle clients cost the
 * proxy for as long as they stay idle. The proxy's own level at start is
 * not settled (V8 has not collected its start-up garbage yet), so with
 * `stageAt` the settled cost per client is also measured from a settled
 * level: RSS after `stageAt` clients and one idle window, to RSS after all
 * `n` and the idle window, divided by the clients added in between.
 */
export async function idleClients(
  n: number,
  windowSecs = 40,
  proxyArgs: readonly string[] = [],
  /** Clients connected and settled (one idle window) before the rest; 0 for none. */
  stageAt = 0,
  /** Each client's one waiting poll, or one channel (our client's default). */
  mode: IdleMode = 'poll',
): Promise<Record<string, unknown>> {
  const proxy = await startProxyProc(proxyArgs);
  const name = `iv: ${n} idle clients${mode === 'channel' ? ' on channels' : ' polling'}${proxyArgs.length ? ` ${proxyArgs.join(' ')}` : ''}`;
  const conns = idleConns(mode, proxy.port);
  // A waiting channel counts as a waiting poll; the channels gauge tells that they are channels.
  const waitingMetric = mode === 'channel' ? 'pushprox_proxy_channels' : 'pushprox_proxy_waiting_polls';
  const waiting = () => metricValue(proxy.url, waitingMetric);
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const before = rssOf(proxy.pid);
    const connect = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        conns.connect(i);
        if (i % 500 === 499) await new Promise((r) => setImmediate(r));
      }
      const end = Date.now() + 120_000;
      while ((await waiting()) < to) {
        if (Date.now() > end) throw new Error(`only ${await waiting()} of ${to} clients waiting (${waitingMetric}) after 120 s`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    // The first stageAt clients, then an idle window: the settled level the cost of the others is measured from.
    let stage: { readonly clients: number; readonly rss: number } | undefined;
    if (stageAt > 0 && stageAt < n) {
      await connect(0, stageAt);
      await new Promise((r) => setTimeout(r, windowSecs * 1000));
      stage = { clients: stageAt, rss: rssOf(proxy.pid) };
    }
    const t0 = performance.now();
    await connect(stage?.clients ?? 0, n);
    const connectSecs = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 2000));
    const after = rssOf(proxy.pid);
    const clientsMs: number[] = [];
    let clientsBytes = 0;
    for (let i = 0; i < 10; i++) {
      const s = performance.now();
      const r = await getUrl(`${proxy.url}/clients`, { timeoutMs: 30_000 });
      clientsMs.push(performance.now() - s);
      clientsBytes = r.body.length;
    }
    const cpu0 = cpuSecondsOf(proxy.pid);
    const opened0 = conns.opened;
    const pongs0 = conns.pongs;
    await new Promise((r) => setTimeout(r, windowSecs * 1000));
    const settled = rssOf(proxy.pid);
    const row = {
      clients: n,
      connect_s: Number(connectSecs.toFixed(1)),
      connected_in_connect_s: n - (stage?.clients ?? 0),
      proxy_rss_idle_mb: Number((before / 1048576).toFixed(1)),
      proxy_rss_with_clients_mb: Number((after / 1048576).toFixed(1)),
      proxy_kb_per_client: Number(((after - before) / 1024 / n).toFixed(2)),
      clients_ms_p50: Number(median(clientsMs).toFixed(1)),
      clients_body_bytes: clientsBytes,
      window_s: windowSecs,
      proxy_cpu_s_in_window: Number((cpuSecondsOf(proxy.pid) - cpu0).toFixed(2)),
      mode,
      polls_in_window: conns.opened - opened0,
      pongs_in_window: conns.pongs - pongs0,
      proxy_rss_after_window_mb: Number((settled / 1048576).toFixed(1)),
      proxy_kb_per_client_after_window: Number(((settled - before) / 1024 / n).toFixed(2)),
      ...(stage && {
        stage_clients: stage.clients,
        proxy_rss_stage_settled_mb: Number((stage.rss / 1048576).toFixed(1)),
        proxy_kb_per_added_client_settled: Number(((settled - stage.rss) / 1024 / (n - stage.clients)).toFixed(2)),
      }),
    };
    console.log(
      name.padEnd(34) +
        ` ${row.proxy_kb_per_client} KB/client (RSS ${row.proxy_rss_idle_mb} → ${row.proxy_rss_with_clients_mb} MB), ` +
        `${row.proxy_kb_per_client_after_window} KB/client after the idle window (${row.proxy_rss_after_window_mb} MB), ` +
        (stage ? `${row.proxy_kb_per_added_client_settled} KB per client added to ${stage.clients} (both settled), ` : '') +
        `/clients ${row.clients_ms_p50} ms, ${row.polls_in_window} ${mode === 'channel' ? 're-opened channels' : 're-polls'}` +
        `${mode === 'channel' ? `, ${row.pongs_in_window} pings answered` : ''} and ${row.proxy_cpu_s_in_window} CPU s in ${windowSecs} s idle`,
    );
    console.log(`JSON ${JSON.stringify({ scenario: name, ...row })}`);
    return { scenario: name, ...row };
  } finally {
    conns.stop();
    await proxy.stop();
  }
}
