import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { BINARIES, requireBinaries } from '../src/binaries.js';
import { freePort, waitListening } from '../src/ports.js';
import { Proc, killAll, startProxyProc } from '../src/procs.js';

/**
 * /-/healthy, /-/ready and /-/reload answer as Prometheus' own do: the same
 * status for every method, and the same text where it does not name the
 * program. Checked against Debian's prometheus, with and without
 * --web.enable-lifecycle.
 */

after(killAll);

const CASES = [
  ['GET', '/-/healthy'],
  ['HEAD', '/-/healthy'],
  ['POST', '/-/healthy'],
  ['GET', '/-/ready'],
  ['PUT', '/-/ready'],
  ['GET', '/-/reload'],
  ['POST', '/-/reload'],
  ['PUT', '/-/reload'],
] as const;

async function answers(base: string): Promise<Array<{ what: string; status: number; body: string }>> {
  const out = [];
  for (const [method, p] of CASES) {
    const res = await request(`${base}${p}`, { method, headersTimeout: 10_000, bodyTimeout: 10_000 });
    // Bodies that name the program ("Prometheus Server is Healthy.") are compared by status only.
    const body = (await res.body.text()).replace(/^Prometheus Server|^PushProx Proxy/, '<program>');
    out.push({ what: `${method} ${p}`, status: res.statusCode, body });
  }
  return out;
}

for (const lifecycle of [false, true]) {
  test(`/-/healthy, /-/ready and /-/reload answer as Prometheus' ${lifecycle ? 'with' : 'without'} --web.enable-lifecycle`, async (t) => {
    if (!requireBinaries(t, 'prometheus')) return;
    const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-lifecycle-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(path.join(dir, 'prometheus.yml'), 'global:\n  scrape_interval: 1m\n');
    const port = await freePort();
    const flag = lifecycle ? ['--web.enable-lifecycle'] : [];
    const prom = new Proc('prometheus', BINARIES.prometheus, [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
      ...flag,
    ]);
    t.after(() => prom.stop());
    const proxy = await startProxyProc(flag);
    t.after(() => proxy.stop());
    await waitListening('127.0.0.1', port, 30_000);
    // Prometheus answers /-/ready with 503 until its storage is open.
    for (const end = Date.now() + 30_000; (await request(`http://127.0.0.1:${port}/-/ready`).then(async (r) => (await r.body.dump(), r.statusCode))) !== 200; ) {
      if (Date.now() > end) throw new Error('prometheus did not become ready within 30 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    const theirs = await answers(`http://127.0.0.1:${port}`);
    const ours = await answers(proxy.url);
    assert.deepEqual(ours.map((a) => [a.what, a.status]), theirs.map((a) => [a.what, a.status]));
    for (const [i, a] of theirs.entries()) {
      if (a.status !== 200 || a.what.endsWith('/-/reload')) assert.equal(ours[i]!.body, a.body, a.what);
    }
  });
}
