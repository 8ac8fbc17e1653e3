import { readdirSync } from 'node:fs';
import { metricValue, waitRegistered } from '../src/proxy-api.js';
import { startClientProc, startProxyProc } from '../src/procs.js';
import { cpuSecondsOf, cpuSecondsOfAll, privateRssOf, rssOf } from './procstat.js';
import { median } from './stats.js';

const openFds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

/**
 * Scenario iv with real programs: `n` pushprox-client processes with their
 * defaults (--scrape.concurrency=8; a channel, or with --no-proxy.channel
 * multi-poll and push-poll) idle on one proxy. What each costs the proxy in
 * waiting polls (a waiting channel counts as one), channels and connections
 * (file descriptors), and the CPU of proxy and clients over a window with no
 * scrapes. The built-in load client of the other iv rows holds one poll or
 * channel per client by construction; this row shows that our own client does too.
 * It also gives the idle client's footprint: the median over the n processes
 * of RSS and of private memory (see privateRssOf).
 */
export async function idleRealClients(n: number, windowSecs = 20, clientArgs: readonly string[] = []): Promise<Record<string, unknown>> {
  const name = `iv: ${n} idle real client processes${clientArgs.length ? ` ${clientArgs.join(' ')}` : ''}`;
  const proxy = await startProxyProc();
  const hosts = Array.from({ length: n }, (_, i) => `127.0.4.${10 + i}`);
  const clients = [];
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const fdsBefore = openFds(proxy.pid);
    for (const h of hosts) clients.push(startClientProc(proxy.url, h, clientArgs));
    await waitRegistered(proxy.url, hosts, { timeoutMs: 120_000 });
    // Start-up (n Node processes on few cores) settles first.
    await new Promise((r) => setTimeout(r, 5000));
    const cpu0 = { proxy: cpuSecondsOf(proxy.pid), clients: cpuSecondsOfAll(clients) };
    await new Promise((r) => setTimeout(r, windowSecs * 1000));
    // Counted before the bench's own /metrics requests, whose connections may still be closing.
    const fds = openFds(proxy.pid);
    const waiting = await metricValue(proxy.url, 'pushprox_proxy_waiting_polls');
    const channels = await metricValue(proxy.url, 'pushprox_proxy_channels');
    const mb = (bytes: number): number => Number((bytes / 1048576).toFixed(1));
    const row = {
      clients: n,
      waiting_polls: waiting,
      polls_per_client: Number((waiting / n).toFixed(2)),
      channels_per_client: Number((channels / n).toFixed(2)),
      proxy_fds_per_client: Number(((fds - fdsBefore) / n).toFixed(2)),
      window_s: windowSecs,
      proxy_cpu_s_in_window: Number((cpuSecondsOf(proxy.pid) - cpu0.proxy).toFixed(2)),
      clients_cpu_s_in_window: Number((cpuSecondsOfAll(clients) - cpu0.clients).toFixed(2)),
      client_rss_mb_median: mb(median(clients.map((c) => rssOf(c.pid)))),
      client_private_mb_median: mb(median(clients.map((c) => privateRssOf(c.pid)))),
    };
    console.log(
      name.padEnd(34) +
        ` ${row.polls_per_client} waiting polls (${row.channels_per_client} channels) and ${row.proxy_fds_per_client} proxy connections per client, ` +
        `CPU s in ${windowSecs} s idle: proxy ${row.proxy_cpu_s_in_window}, all ${n} clients ${row.clients_cpu_s_in_window}; ` +
        `a client's RSS ${row.client_rss_mb_median} MB, private ${row.client_private_mb_median} MB (medians)`,
    );
    console.log(`JSON ${JSON.stringify({ scenario: name, ...row })}`);
    return { scenario: name, ...row };
  } finally {
    await Promise.all([...clients.map((c) => c.stop()), proxy.stop()]);
  }
}
