import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { clientHello, FAULTS, offsetsOf, openConn, strike, type Fault } from './chaos-peers.js';
import { exchanges, type Exchange, type Prepared, type Target } from './chaos-exchanges.js';
import { describeDescriptors, PROXY_MAIN, spawnProxy, type ProxyProcess } from '../proxy-process.js';
import { openChannel, pushFrames, pushedResponse, scrape } from '../raw-peers.js';

/**
 * Socket chaos against real proxy processes: for every listener shape (plain
 * and TLS; one listener and split) and every exchange, a peer that resets,
 * half-closes, sends garbage or stalls at every byte offset of short
 * messages and at sampled offsets of long ones (mid-body of 1 MB pushes
 * included). After every batch of cases the process must still run and
 * serve a normal scrape; after every (exchange, fault) group it must hold
 * no descriptor more than before, every stalled peer must have been cut by
 * the read timeouts, and every scrape parked for a case must have ended.
 *
 * PUSHPROX_CHAOS_SOAK=<minutes> repeats the whole run for that long (not in CI);
 * PUSHPROX_CHAOS_SHAPES and PUSHPROX_CHAOS_EXCHANGES (comma-separated names)
 * narrow a run while investigating a case.
 */

const READ_TIMEOUT_MS = 500;
const BATCH = 16;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Shape {
  readonly name: string;
  readonly secure: boolean;
  readonly split: boolean;
  /**
   * Every `stride`-th offset of each message (the complete message always) in
   * the normal run, to stay within its time; a soak takes every offset. The
   * split shapes differ from the others in routing, not in parsing.
   */
  readonly stride: number;
}
const only = (name: string, list: string | undefined): boolean => list === undefined || list.split(',').includes(name);
const ALL_SHAPES: readonly Shape[] = [
  { name: 'plain', secure: false, split: false, stride: 1 },
  { name: 'plain-split', secure: false, split: true, stride: 5 },
  { name: 'tls', secure: true, split: false, stride: 2 },
  { name: 'tls-split', secure: true, split: true, stride: 5 },
];
const SHAPES = ALL_SHAPES.filter((s) => only(s.name, process.env.PUSHPROX_CHAOS_SHAPES));

/**
 * A well-behaved channel client for `fqdn` that answers every scrape and
 * reopens its channel whenever the proxy closes it (a scrape cut by its
 * scraper may cost the channel).
 */
class Responder {
  #channel: net.Socket | undefined;
  #stopped = false;
  constructor(
    readonly t: Target,
    readonly fqdn: string,
  ) {}

  async open(): Promise<void> {
    if (this.#channel !== undefined && !this.#channel.destroyed) return;
    const conn = await openConn(this.t.clientPort, this.t.secure);
    const ch = openChannel(this.t.clientPort, this.fqdn, (id, s) => s.write(pushFrames(pushedResponse(id, 'up 1\n'))), { socket: conn.sock });
    await ch.upgraded;
    this.#channel = ch.socket;
    ch.socket.once('close', () => {
      if (!this.#stopped) void this.open().catch(() => undefined);
    });
  }

  close(): void {
    this.#stopped = true;
    this.#channel?.destroy();
  }
}

class Healthy {
  readonly #responder: Responder;
  constructor(
    readonly p: ProxyProcess,
    readonly t: Target,
  ) {
    this.#responder = new Responder(t, 'healthy.example');
  }

  /** A normal scrape through the proxy to a well-behaved channel client succeeds. */
  async check(after: string): Promise<void> {
    assert.equal(this.p.exited(), undefined, `the proxy exited after ${after}:\n${this.p.log().slice(-3000)}`);
    await this.#responder.open();
    const got = await scrape(this.t.port, 'healthy.example', 5, { tls: this.t.secure });
    assert.equal(got.status, 200, `a normal scrape after ${after} got: ${got.text.slice(0, 300)}`);
  }

  close(): void {
    this.#responder.close();
  }
}

interface Tally {
  cases: number;
  readonly byExchange: Map<string, number>;
}

/** Longest wait for the proxy's descriptors to come back to the baseline after a group of cases. */
const SETTLE_MS = 45_000;
/** A settle slower than this prints what the proxy holds while it still holds it. */
const SLOW_SETTLE_MS = 5_000;

async function settleFds(p: ProxyProcess, baseline: number, after: string): Promise<void> {
  // Generous: under the whole suite on 2 cores, the proxy may be slow to close what it was sent.
  // After TLS handshake resets on the split client listener, one or two descriptors were seen
  // to take 20-30 s to close (then they did), not reproduced since (tls-descriptors.test.ts:
  // back within 2 s); SETTLE_MS leaves room for that, and a slow settle prints the descriptors
  // while they are held (the failure message's list comes too late).
  const started = Date.now();
  const deadline = started + SETTLE_MS;
  let snapshot: string | undefined;
  // One reading per round, judged as read: a second reading could catch a descriptor that
  // lives a moment (a health check's connection) after the first had settled.
  let held = p.fds();
  while (held > baseline && Date.now() < deadline) {
    if (snapshot === undefined && Date.now() - started > SLOW_SETTLE_MS) {
      snapshot = describeDescriptors(p.pid);
      process.stdout.write(`# chaos: ${held} descriptors (${baseline} allowed) ${SLOW_SETTLE_MS / 1000} s after ${after}:\n${snapshot.replace(/^/gm, '#   ')}\n`);
    }
    await sleep(50);
    held = p.fds();
  }
  if (held <= baseline) {
    if (Date.now() - started > 10_000) process.stdout.write(`# chaos: descriptors took ${Date.now() - started} ms to settle after ${after}\n`);
    return;
  }
  assert.fail(`the proxy held ${held} descriptors ${Date.now() - started} ms after ${after} (now ${p.fds()}), ${baseline} before:\n${describeDescriptors(p.pid)}\n${snapshot === undefined ? '' : `and after ${SLOW_SETTLE_MS / 1000} s:\n${snapshot}`}`);
}

/** Ends within 3 s plus the case's own bound, or fails naming what hung. */
async function allEnd(promises: Array<Promise<void>>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)));
  const r = await Promise.race([Promise.all(promises).then(() => 'ok' as const), late]);
  clearTimeout(timer);
  assert.equal(r, 'ok', `${what} did not all end within ${ms} ms`);
}

async function runGroup(shape: Shape, t: Target, health: Healthy, x: Exchange, fault: Fault, offsets: number[], tally: Tally, seq: { n: number }): Promise<void> {
  const label = `${shape.name} ${x.name} ${fault}`;
  const stalled: Array<{ offset: number; prepared: Prepared }> = [];
  const parked: Array<Promise<void>> = [];
  const extras: net.Socket[] = [];
  for (let i = 0; i < offsets.length; i += BATCH) {
    const batch = offsets.slice(i, i + BATCH);
    await Promise.all(
      batch.map(async (offset) => {
        const prepared = await x.prepare(t, seq.n++);
        parked.push(...prepared.scrapes);
        extras.push(...prepared.extra);
        await strike(prepared.conn, prepared.message, offset, fault);
        if (fault === 'stall') stalled.push({ offset, prepared });
        else extras.push(prepared.conn.sock);
      }),
    );
    tally.cases += batch.length;
    tally.byExchange.set(x.name, (tally.byExchange.get(x.name) ?? 0) + batch.length);
    await health.check(`${label} at offsets ${batch[0]}..${batch.at(-1)}`);
  }
  if (fault === 'stall') {
    // Every stalled peer whose message was incomplete is cut by --web.read-header-timeout or
    // --web.read-idle-timeout. A complete request was answered (a poll or channel waits, and
    // a kept-alive connection idles until the keep-alive timeout).
    const mustBeCut = stalled.filter((s) => s.offset < x.length);
    await allEnd(mustBeCut.map((s) => s.prepared.conn.closed), READ_TIMEOUT_MS * 4, `${label}: stalled peers cut by the read timeouts`);
    for (const s of stalled) {
      if (s.offset === x.length && !x.waitsWhenComplete) {
        assert.match(s.prepared.conn.received(), /^HTTP\/1\.1 \d{3} /, `${label}: the complete request was answered`);
      }
    }
    for (const s of stalled) s.prepared.conn.sock.destroy();
  }
  // Parked scrapes end by their 2 s deadline at the latest.
  await allEnd(parked, 6_000, `${label}: scrapes parked for the cases`);
  for (const s of extras) s.destroy();
  await health.check(label);
}

/** Every `stride`-th of `offsets`, and the last (the complete message). */
function strided(offsets: number[], stride: number): number[] {
  return offsets.filter((_, i) => i % stride === 0 || i === offsets.length - 1);
}

async function runShape(shape: Shape, args: string[], tally: Tally, soakUntil: number | undefined): Promise<void> {
  const stride = soakUntil === undefined ? shape.stride : 1;
  const p = await spawnProxy(
    [`--web.read-header-timeout=${READ_TIMEOUT_MS}ms`, `--web.read-idle-timeout=${READ_TIMEOUT_MS}ms`, '--web.max-auth-failures=0', ...args],
    { clientListener: shape.split },
  );
  const t: Target = { port: p.port, clientPort: p.clientPort, secure: shape.secure };
  const health = new Healthy(p, t);
  // The target of the 'scrape' exchange: scrapes cut by their scraper are being answered by it.
  const target = new Responder(t, 'chaos-target.example');
  const seq = { n: 0 };
  try {
    await target.open();
    await health.check('start');
    // No slack: one descriptor more than this after a group is a leak (a TLS CONNECT with bytes
    // after it, reset by its sender, was held for good while one spare descriptor was allowed).
    const baseline = p.fds();
    const hello = shape.secure ? await clientHello() : undefined;
    do {
      for (const x of exchanges({ enroll: true }).filter((e) => only(e.name, process.env.PUSHPROX_CHAOS_EXCHANGES))) {
        for (const fault of FAULTS) {
          if (fault === 'stall' && !x.stalls) continue;
          await runGroup(shape, t, health, x, fault, strided(offsetsOf(x.length), stride), tally, seq);
          await settleFds(p, baseline, `${shape.name} ${x.name} ${fault}`);
        }
      }
      if (hello && only('tls-handshake', process.env.PUSHPROX_CHAOS_EXCHANGES)) {
        // The TLS handshake itself, cut at every offset of a real ClientHello.
        for (const fault of FAULTS) {
          const cases = strided(offsetsOf(hello.length), stride);
          const conns = await Promise.all(cases.map(() => openConn(t.clientPort, false)));
          await Promise.all(conns.map((c, i) => strike(c, hello, cases[i]!, fault)));
          tally.cases += cases.length;
          tally.byExchange.set('tls-handshake', (tally.byExchange.get('tls-handshake') ?? 0) + cases.length);
          await health.check(`${shape.name} tls-handshake ${fault}`);
          await allEnd(conns.map((c) => c.closed), READ_TIMEOUT_MS * 4, `${shape.name} tls-handshake ${fault}: cut connections`);
          await settleFds(p, baseline, `${shape.name} tls-handshake ${fault}`);
        }
      }
    } while (soakUntil !== undefined && Date.now() < soakUntil);
    assert.equal(p.exited(), undefined);
  } finally {
    health.close();
    target.close();
    await p.stop();
  }
}

test('chaos: resets, half-closes, garbage and stalls at every offset of every exchange never stop the proxy, leak a descriptor or hang a peer', async (t) => {
  const soakMinutes = Number(process.env.PUSHPROX_CHAOS_SOAK ?? 0);
  const started = performance.now();
  const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-chaos-'));
  try {
    execFileSync(process.execPath, [PROXY_MAIN, 'pki', 'init', `--pki.dir=${dir}/pki`, '--pki.san=IP:127.0.0.1'], { stdio: 'ignore', timeout: 60_000 });
    writeFileSync(`${dir}/tokens`, 'chaos-token-0123456789abcdef\n');
    writeFileSync(`${dir}/web.yml`, `tls_server_config:\n  cert_file: ${dir}/pki/server.crt\n  key_file: ${dir}/pki/server.key\n`);
    const enroll = [`--enroll.token-file=${dir}/tokens`, `--enroll.ca-dir=${dir}/pki`, `--enroll.state-file=${dir}/state.json`];
    const tally: Tally = { cases: 0, byExchange: new Map() };
    for (const shape of SHAPES) {
      const args = [...enroll, ...(shape.secure ? [`--web.config.file=${dir}/web.yml`] : [])];
      await runShape(shape, args, tally, soakMinutes > 0 ? Date.now() + (soakMinutes * 60_000) / SHAPES.length : undefined);
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const parts = [...tally.byExchange].map(([k, v]) => `${k} ${v}`).join(', ');
    t.diagnostic(`chaos: ${tally.cases} (listener, exchange, offset, fault) cases over ${SHAPES.length} listener shapes and ${FAULTS.length} faults in ${seconds} s; by exchange: ${parts}`);
    console.log(`# chaos: ${tally.cases} cases in ${seconds} s (${parts})`);
    if (process.env.PUSHPROX_CHAOS_SHAPES === undefined && process.env.PUSHPROX_CHAOS_EXCHANGES === undefined) {
      assert.ok(tally.cases > 1000, `expected over 1,000 cases, ran ${tally.cases}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
