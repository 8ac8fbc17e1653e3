import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { getUrl, scrapeVia } from '../src/http.js';
import { BINARIES, requireBinaries } from '../src/binaries.js';
import { freePort } from '../src/ports.js';
import { CLIENT_BIN, killAll, Proc, startProxyProc } from '../src/procs.js';
import { waitRegistered } from '../src/proxy-api.js';

/**
 * Both programs' /metrics pass `promtool check metrics`, Prometheus' own lint
 * of the exposition format (prom-client's default nodejs_active_*_total gauges
 * failed it: a `_total` suffix is for counters).
 */

after(killAll);

/** `promtool check metrics` on `text` (its stdin); bounded by a 15 s kill. */
function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(BINARIES.promtool, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.stdin.on('error', () => undefined);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    child.stdin.end(text);
  });
}

test('promtool check metrics passes on the /metrics of both programs, after a scrape went through', async (t) => {
  if (!requireBinaries(t, 'promtool')) return;
  const proxy = await startProxyProc();
  const metricsPort = await freePort();
  const client = new Proc('pushprox-client', process.execPath, [
    CLIENT_BIN,
    `--proxy-url=${proxy.url}`,
    '--fqdn=127.0.0.1',
    `--metrics-addr=127.0.0.1:${metricsPort}`,
  ]);
  await waitRegistered(proxy.url, '127.0.0.1', { client });
  // A scrape through the pair (of the client's own /metrics) fills the per-path series and histograms.
  const scraped = await scrapeVia(proxy.port, `http://127.0.0.1:${metricsPort}/metrics`, { timeoutSecs: 10 });
  assert.equal(scraped.status, 200);
  for (const [name, url] of [['pushprox-proxy', `${proxy.url}/metrics`], ['pushprox-client', `http://127.0.0.1:${metricsPort}/metrics`]] as const) {
    const reply = await getUrl(url);
    assert.equal(reply.status, 200, `${name} /metrics`);
    const text = reply.body.toString();
    // What promtool refused, and what stays in its place: the same counts by type.
    assert.doesNotMatch(text, /^nodejs_active_\w+_total /m, `${name} still exposes a non-counter _total gauge`);
    assert.match(text, /^nodejs_active_handles\{type="\w+"\} \d+/m, `${name} lost nodejs_active_handles`);
    const checked = await promtoolCheck(text);
    assert.equal(checked.code, 0, `promtool check metrics on ${name}'s /metrics:\n${checked.output}`);
    t.diagnostic(`${name}: ${text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length} samples pass promtool check metrics`);
  }
  await client.stop();
  await proxy.stop();
});
