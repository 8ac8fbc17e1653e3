import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as index from 'undici';
import { loadUndiciParts, undici } from '../../src/http/undici-parts.js';

const INDEX_JS = fileURLToPath(new URL('../../src/index.js', import.meta.url));

test('the client takes Agent, ProxyAgent and Dispatcher from their own undici modules, the same classes the index exports', () => {
  assert.equal(undici.direct, true, 'the locked undici version still has lib/dispatcher/*.js and lib/api/index.js');
  assert.equal(undici.Agent, index.Agent);
  assert.equal(undici.ProxyAgent, index.ProxyAgent);
  assert.equal(undici.Dispatcher, index.Dispatcher);
  for (const m of ['request', 'stream', 'pipeline', 'upgrade', 'connect']) {
    assert.equal(typeof (undici.Agent.prototype as unknown as Record<string, unknown>)[m], 'function', m);
  }
});

test('loading the client does not load undici\'s index (fetch, WebSocket, caches, mocks)', async () => {
  const script = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(INDEX_JS)});
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('/node_modules/undici/'));
    console.log(JSON.stringify({ count: loaded.length, index: loaded.some((k) => k.endsWith('/undici/index.js')), fetch: loaded.some((k) => k.includes('/lib/web/')) }));
  `;
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  const got = JSON.parse(out) as { count: number; index: boolean; fetch: boolean };
  assert.ok(got.count > 0, 'undici is loaded at all');
  assert.equal(got.index, false, 'undici/index.js is not loaded');
  assert.equal(got.fetch, false, 'no module of lib/web (fetch, WebSocket, EventSource, cache) is loaded');
});

test('a moved undici module makes the client fall back to the index, with the same classes', () => {
  const real = createRequire(import.meta.url);
  const hiding = (hidden: string) => (id: string) => {
    if (id === hidden) throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });
    return real(id) as unknown;
  };
  for (const hidden of ['undici/lib/dispatcher/agent.js', 'undici/lib/api/index.js']) {
    const parts = loadUndiciParts(hiding(hidden));
    assert.equal(parts.direct, false, hidden);
    assert.equal(parts.Agent, index.Agent);
    assert.equal(parts.Dispatcher, index.Dispatcher);
    assert.equal(parts.ProxyAgent, index.ProxyAgent);
  }
  // A module that is there but no longer a class is treated the same way.
  const changed = loadUndiciParts((id) => (id === 'undici/lib/dispatcher/agent.js' ? {} : real(id)));
  assert.equal(changed.direct, false);
  assert.equal(changed.Agent, index.Agent);
});
