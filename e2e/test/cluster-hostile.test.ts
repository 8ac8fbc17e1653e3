import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createInbox, headers, type NatsConnection } from '@nats-io/transport-node';
import { CLUSTER_HEADERS as H, SUBJECT_PRESENCE, clientSubject, forwardSubject } from '@pushprox/shared';
import { missing, requireBinaries } from '../src/binaries.js';
import { DEMO_BODY, startExporter, type TestExporter } from '../src/exporter.js';
import { scrapeVia } from '../src/http.js';
import { startNatsCluster, type NatsCluster } from '../src/nats.js';
import { killAll, startClientProc, startProxyProc, type Proc, type ProxyProc } from '../src/procs.js';
import { registeredClients, waitRegistered } from '../src/proxy-api.js';

/**
 * Hostile peers on the cluster's NATS subjects: whoever may publish there
 * (a broken or compromised proxy) sends junk presence, malformed forwards, a
 * requester that never acknowledges, and a holder that lies. The proxy stays
 * up, keeps its memory bounded and answers every scrape within its deadline.
 */

after(killAll);

let nats: NatsCluster;
let proxy: ProxyProc;
let client: Proc;
let exporter: TestExporter;
let nc: NatsConnection;
let proxyId: string;

before(async () => {
  if (missing('natsServer').length > 0) return;
  nats = await startNatsCluster(1);
  exporter = await startExporter();
  proxy = await startProxyProc([`--cluster.nats-url=${nats.urls}`, '--cluster.announce-interval=1s']);
  proxyId = (await proxy.waitFor(/Cluster: connected to NATS.* proxy_id=(\S+)/))[1]!;
  client = startClientProc(proxy.url, '127.0.0.1');
  await waitRegistered(proxy.url, '127.0.0.1', { client });
  nc = await connect({ servers: nats.urls });
});

after(async () => {
  await nc?.close();
  await exporter?.close();
  await nats?.stop();
});

async function assertHealthy(): Promise<void> {
  assert.ok(proxy.running, `proxy exited:\n${proxy.output}`);
  const r = await scrapeVia(proxy.port, `${exporter.url}/metrics`, { timeoutSecs: 5, headers: { 'Accept-Encoding': 'identity' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), DEMO_BODY);
}

function announce(proxyIdOf: string, fqdns: string[]): void {
  nc.publish(SUBJECT_PRESENCE, JSON.stringify({ v: 1, proxy: proxyIdOf, kind: 'add', ttlMs: 60_000, fqdns }));
}

test('junk presence messages are dropped and change nothing', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  for (const junk of [
    'not json',
    '{}',
    JSON.stringify({ v: 2, proxy: 'x', kind: 'add', ttlMs: 1000, fqdns: ['a'] }),
    JSON.stringify({ v: 1, proxy: 'bad id with spaces', kind: 'add', ttlMs: 1000, fqdns: ['a'] }),
    JSON.stringify({ v: 1, proxy: 'p', kind: 'add', ttlMs: 1e12, fqdns: ['a'] }),
    JSON.stringify({ v: 1, proxy: 'p', kind: 'add', ttlMs: 1000, fqdns: Array.from({ length: 5000 }, (_, i) => `h${i}`) }),
    JSON.stringify({ v: 1, proxy: 'p', kind: 'add', ttlMs: 1000, fqdns: [42] }),
  ]) nc.publish(SUBJECT_PRESENCE, junk);
  await nc.flush();
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(await registeredClients(proxy.url), ['127.0.0.1']);
  await assertHealthy();
});

test('a client announced by a proxy that does not exist fails fast with the usual 500, and is forgotten', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  announce('ghost-proxy', ['ghost.example']);
  await nc.flush();
  await waitRegistered(proxy.url, 'ghost.example', { timeoutMs: 3000 });
  const start = Date.now();
  const r = await scrapeVia(proxy.port, 'http://ghost.example:9100/metrics', { timeoutSecs: 10 });
  assert.equal(r.status, 500);
  assert.match(r.body.toString(), /no proxy of the cluster answered for "ghost.example"/);
  assert.ok(Date.now() - start < 2000, `took ${Date.now() - start} ms`);
  assert.deepEqual(await registeredClients(proxy.url), ['127.0.0.1']);
});

test('a forward without its headers is refused with a code, and the proxy serves on', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  const reply = await nc.request(forwardSubject(proxyId), Buffer.from('GET / HTTP/1.1\r\n\r\n'), { timeout: 2000 });
  assert.equal(reply.headers?.get(H.code), 'PUSHPROX_SCRAPE_BAD_TARGET');
  assert.match(reply.string(), /expected a forwarded scrape/);
  await assertHealthy();
});

test('a requester that never acknowledges stalls the push at the window, and the holder gives up at the deadline', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  const stream = createInbox();
  let chunks = 0;
  let bytes = 0;
  const kinds: string[] = [];
  const sub = nc.subscribe(stream, {
    callback: (_e, m) => {
      const kind = m.headers?.get(H.kind) ?? '';
      kinds.push(kind);
      if (kind === 'data') {
        chunks++;
        bytes += m.data.length;
      }
    },
  });
  const id = '00000000-0000-4000-8000-000000000001';
  const request = Buffer.from(`GET ${exporter.url}/big?bytes=${50 * 1024 * 1024} HTTP/1.1\r\nHost: 127.0.0.1\r\nId: ${id}\r\nX-Prometheus-Scrape-Timeout-Seconds: 3\r\n\r\n`);
  const open = headers();
  open.set(H.fqdn, '127.0.0.1');
  open.set(H.id, id);
  open.set(H.stream, stream);
  open.set(H.timeoutMs, '3000');
  const rssBefore = proxy.rss();
  const reply = await nc.request(forwardSubject(proxyId), request, { headers: open, timeout: 2000 });
  assert.ok(reply.headers?.get(H.control), 'open reply names a control subject');
  await new Promise((r) => setTimeout(r, 4000));
  sub.unsubscribe();
  t.diagnostic(`chunks sent without acks: ${chunks} (${bytes} bytes); messages: ${[...new Set(kinds)].join(',')}; RSS +${((proxy.rss() - rssBefore) / 1e6).toFixed(1)} MB`);
  assert.equal(chunks, 16, 'the holder sent exactly one window of chunks');
  assert.equal(kinds.at(-1), 'error', 'the holder ends the stalled stream with an error at the deadline');
  assert.ok(proxy.rss() - rssBefore < 64 * 1024 * 1024, 'RSS grew by less than 64 MB for a stalled 50 MB body');
  await assertHealthy();
});

test('a lying holder (no head, chunk out of order, bad head) gets its scrape answered 502 or cut, never a hang', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  const cases: Array<{ name: string; send: (stream: string) => void; expect: (status: number, body: string) => void }> = [
    {
      name: 'data before the head',
      send: (s) => nc.publish(s, Buffer.from('x'), { headers: kind('data', '1') }),
      expect: (status) => assert.equal(status, 502),
    },
    {
      name: 'bad head JSON',
      send: (s) => nc.publish(s, Buffer.from('{nope'), { headers: kind('head') }),
      expect: (status) => assert.equal(status, 502),
    },
    {
      name: 'unknown error code',
      send: (s) => nc.publish(s, Buffer.from('boom'), { headers: (() => { const h = kind('error'); h.set(H.code, 'EVIL'); return h; })() }),
      expect: (status, body) => {
        assert.equal(status, 502);
        assert.match(body, /unknown error "EVIL"/);
      },
    },
  ];
  for (const c of cases) {
    const fake = `liar-${cases.indexOf(c)}`;
    const sub = nc.subscribe(forwardSubject(fake), {
      callback: (_e, m) => {
        const h = headers();
        h.set(H.control, createInbox());
        m.respond(undefined, { headers: h });
        c.send(m.headers!.get(H.stream));
      },
    });
    announce(fake, [`${fake}.example`]);
    await nc.flush();
    await waitRegistered(proxy.url, `${fake}.example`, { timeoutMs: 3000 });
    const r = await scrapeVia(proxy.port, `http://${fake}.example:9100/metrics`, { timeoutSecs: 3 });
    c.expect(r.status, r.body.toString());
    sub.unsubscribe();
    nc.publish(SUBJECT_PRESENCE, JSON.stringify({ v: 1, proxy: fake, kind: 'bye', ttlMs: 1000, fqdns: [] }));
  }
  // A holder that sends a head and then nothing: Prometheus' deadline holds.
  const sub = nc.subscribe(forwardSubject('silent'), {
    callback: (_e, m) => {
      const h = headers();
      h.set(H.control, createInbox());
      m.respond(undefined, { headers: h });
      nc.publish(m.headers!.get(H.stream), Buffer.from(JSON.stringify({ status: 200, reason: 'OK', headers: ['Content-Length', '10'] })), { headers: kind('head') });
    },
  });
  announce('silent', ['silent.example']);
  await nc.flush();
  await waitRegistered(proxy.url, 'silent.example', { timeoutMs: 3000 });
  const start = Date.now();
  await assert.rejects(scrapeVia(proxy.port, 'http://silent.example:9100/metrics', { timeoutSecs: 2, timeoutMs: 6000 }));
  const took = Date.now() - start;
  assert.ok(took >= 1500 && took < 4000, `the silent holder's scrape was cut after ${took} ms`);
  sub.unsubscribe();
  await assertHealthy();
});

test('a client on NATS that answers with junk, a forged Id or too few bytes gets its scrape answered 502, never a hang', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  const answers: Array<[string, (id: string) => Buffer]> = [
    ['junk', () => Buffer.from('this is not HTTP\r\n\r\n')],
    ['forged Id', () => Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nId: 00000000-0000-4000-8000-00000000dead\r\n\r\nok')],
    ['too few bytes', (id) => Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 100\r\nId: ${id}\r\n\r\nshort`)],
  ];
  for (const [name, answer] of answers) {
    const fqdn = `evil-${answers.findIndex((a) => a[0] === name)}.example`;
    const sub = nc.subscribe(clientSubject(fqdn), {
      callback: (_e, m) => {
        const id = /\r\nId: ([^\r]+)/.exec(Buffer.from(m.data).toString())?.[1] ?? '';
        const h = headers();
        h.set(H.control, createInbox());
        m.respond(undefined, { headers: h });
        const stream = m.headers!.get(H.stream);
        nc.publish(stream, answer(id), { headers: kind('raw', '1') });
        nc.publish(stream, undefined, { headers: kind('end') });
      },
    });
    nc.publish(SUBJECT_PRESENCE, JSON.stringify({ v: 1, proxy: `evil${name.length}`, kind: 'add', ttlMs: 60_000, fqdns: [fqdn], direct: true }));
    await nc.flush();
    await waitRegistered(proxy.url, fqdn, { timeoutMs: 3000 });
    const start = Date.now();
    const r = await scrapeVia(proxy.port, `http://${fqdn}:9100/metrics`, { timeoutSecs: 3, timeoutMs: 6000 }).catch((e: Error) => ({ status: 0, body: Buffer.from(e.message) }));
    t.diagnostic(`${name}: ${r.status} after ${Date.now() - start} ms: ${r.body.toString().slice(0, 160)}`);
    if (name === 'too few bytes') assert.ok(r.status === 0 || r.status === 200, 'a body cut short is cut for Prometheus too');
    else assert.equal(r.status, 502, `${name}: ${r.body.toString()}`);
    assert.ok(Date.now() - start < 4000, `${name} took ${Date.now() - start} ms`);
    sub.unsubscribe();
  }
  await assertHealthy();
});

test('a push for an Id no proxy of the cluster handed out gets 404 within the 0.5 s lookup', async (t) => {
  if (!requireBinaries(t, 'natsServer')) return;
  const body = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nId: 00000000-0000-4000-8000-0000000000aa\r\n\r\nok');
  const start = Date.now();
  const r = await fetch(`${proxy.url}/push`, { method: 'POST', body });
  const text = await r.text();
  assert.equal(r.status, 404, text);
  assert.match(text, /unknown scrape id/);
  assert.ok(Date.now() - start < 2000, `took ${Date.now() - start} ms`);
  await assertHealthy();
});

function kind(k: string, seq?: string) {
  const h = headers();
  h.set(H.kind, k);
  if (seq) h.set(H.seq, seq);
  return h;
}
