import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startExporter } from '../src/exporter.js';
import { scrapeVia } from '../src/http.js';
import { registeredClients, waitRegistered } from '../src/proxy-api.js';
import { killAll, startClientProc, startProxyProc } from '../src/procs.js';

/** The client role locked down with bearer tokens, with the real programs. */

const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-e2e-sec-'));
after(async () => {
  await killAll();
  rmSync(dir, { recursive: true, force: true });
});

test('--client.token-file on both sides: the client registers and is scraped; without the token it is refused', async () => {
  const token = 'e2e-token-0123456789abcdef';
  writeFileSync(path.join(dir, 'proxy-tokens'), `${token} 127.0.0.1\n`);
  writeFileSync(path.join(dir, 'client-token'), `${token}\n`);
  writeFileSync(path.join(dir, 'wrong-token'), 'wrong-token-0123456789abcdef\n');
  const exporter = await startExporter();
  try {
    const proxy = await startProxyProc([`--client.token-file=${path.join(dir, 'proxy-tokens')}`]);
    const intruder = startClientProc(proxy.url, '127.0.0.1', [`--client.token-file=${path.join(dir, 'wrong-token')}`]);
    await intruder.waitFor(/Error polling.*401|unknown bearer token/, 10_000);
    assert.deepEqual(await registeredClients(proxy.url), []);
    await intruder.stop();

    startClientProc(proxy.url, '127.0.0.1', [`--client.token-file=${path.join(dir, 'client-token')}`]);
    await waitRegistered(proxy.url, '127.0.0.1', { timeoutMs: 10_000 });
    const r = await scrapeVia(proxy.port, `${exporter.url}/metrics`, { timeoutSecs: 5 });
    assert.equal(r.status, 200);
  } finally {
    await exporter.close();
  }
});
