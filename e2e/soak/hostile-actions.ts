import { randomBytes } from 'node:crypto';
import { CHANNEL_PROTOCOL, FRAME, HEADER_CHANNEL, PATH_POLL, PATH_PUSH, encodeFrame, frameHeader } from '@pushprox/shared';
import { EXCHANGES, connectRaw, firstBytes, heads, ready, reset, secs, statusOf, watch } from './raw.js';
import { scrapeOnce } from './scraper.js';
import { MAX_BODY_BYTES, type ProxyEnd } from './topology.js';
import { pick, randInt, sleep } from './tally.js';

/** What a hostile action may aim at; each action resolves with a short outcome key and never rejects. */
export interface Aim {
  readonly proxy: ProxyEnd;
  /** An absolute-form scrape URL of a real client's e2e exporter (`http://<fqdn>:<port>`, no path). */
  readonly exporter: string;
  readonly signal: AbortSignal;
}

/** Longest any hostile connection is held open by us. */
export const HOLD_CAP_MS = 30_000;

/** CONNECT (what Prometheus sends for an https target), then a TCP reset at a random moment. */
export async function connectThenReset(a: Aim): Promise<string> {
  const c = connectRaw(a.proxy);
  if (!(await ready(c.s))) return (reset(c), 'could not connect');
  c.s.write(heads(a.proxy, a.exporter).connect);
  const when = pick(['at once', 'after the reply', 'after 0-50 ms'] as const);
  if (when === 'after the reply') await firstBytes(c.s, 5000);
  else if (when === 'after 0-50 ms') await sleep(randInt(0, 50), a.signal);
  reset(c);
  return `reset ${when}`;
}

/**
 * A request head of a random exchange cut at a random byte: then a reset, a
 * half-close, or a stall until the proxy closes (or HOLD_CAP_MS).
 */
export async function cutHead(a: Aim): Promise<string> {
  const all = heads(a.proxy, `${a.exporter}/metrics`);
  const exchange = pick(EXCHANGES);
  const head = all[exchange];
  const at = randInt(0, head.length - 1);
  const c = connectRaw(a.proxy);
  if (!(await ready(c.s))) return (reset(c), 'could not connect');
  if (at > 0) c.s.write(head.subarray(0, at));
  const fault = pick(['reset', 'half-close', 'stall'] as const);
  if (fault === 'reset') {
    await sleep(randInt(0, 20), a.signal);
    reset(c);
    return 'reset';
  }
  if (fault === 'half-close') c.s.end();
  const w = await watch(c, HOLD_CAP_MS, a.signal);
  // A /poll or /push head may be whole with its body cut: that is --web.read-idle-timeout's (30 s) to end, not the head timeout's.
  const where = at >= head.indexOf('\r\n\r\n') + 4 ? `${exchange} body` : `${exchange} head`;
  return `${fault} in ${where}: ${w.closedByPeer ? `${statusOf(w.firstLine)}, closed by proxy after ${secs(w.afterMs)}` : `still open at ${secs(w.afterMs)}`}`;
}

/** A valid scrape head sent one line every 3-4 s; the proxy should cut it at --web.read-header-timeout (10 s). */
export async function slowHead(a: Aim): Promise<string> {
  const lines = heads(a.proxy, `${a.exporter}/metrics`).scrape.toString('latin1').split(/(?<=\r\n)/);
  const c = connectRaw(a.proxy);
  if (!(await ready(c.s))) return (reset(c), 'could not connect');
  const watched = watch(c, HOLD_CAP_MS, a.signal);
  let closed = false;
  void watched.then(() => (closed = true));
  for (const l of lines) {
    if (closed || a.signal.aborted) break;
    c.s.write(l);
    await sleep(randInt(3000, 4000), a.signal);
  }
  const w = await watched;
  return w.closedByPeer ? `${statusOf(w.firstLine)}, closed by proxy after ${secs(w.afterMs)}` : `still open at ${secs(w.afterMs)}`;
}

/** A TCP connection to the TLS listener that sends nothing, or a few bytes of garbage, and never handshakes. */
export async function tlsNoHandshake(a: Aim): Promise<string> {
  const c = connectRaw(a.proxy, true);
  if (!(await ready(c.s))) return (reset(c), 'could not connect');
  const what = pick(['silent', '3 bytes of a TLS record', 'random bytes'] as const);
  if (what === '3 bytes of a TLS record') c.s.write(Buffer.from([0x16, 0x03, 0x01]));
  else if (what === 'random bytes') c.s.write(randomBytes(randInt(1, 64)));
  const w = await watch(c, HOLD_CAP_MS, a.signal);
  return `${what}: ${w.closedByPeer ? `closed by proxy after ${secs(w.afterMs)}` : `still open at ${secs(w.afterMs)}`}`;
}

/** A /push declaring far more than --push.max-body-size, 1 MB of it sent, then a reset or a wait for the answer. */
export async function oversizedPush(a: Aim): Promise<string> {
  const c = connectRaw(a.proxy);
  if (!(await ready(c.s))) return (reset(c), 'could not connect');
  const inner = 'HTTP/1.1 200 OK\r\nId: 123456789\r\nContent-Length: 599999000\r\n\r\n';
  c.s.write(`POST ${PATH_PUSH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 600000000\r\n\r\n${inner}`);
  const answer = firstBytes(c.s, 5000);
  c.s.write(Buffer.alloc(1024 * 1024, 0x61));
  const line = (await answer).split('\r\n')[0]!;
  reset(c);
  return `answered ${statusOf(line)}`;
}

/**
 * A scrape of an exporter body larger than --push.max-body-size through a
 * real client: the client's push (or channel DATA) is refused. The outcome
 * is what Prometheus sees and how soon.
 */
export async function oversizedScrape(a: Aim): Promise<string> {
  const t0 = Date.now();
  const r = await scrapeOnce(a.proxy, `${a.exporter}/big?bytes=${MAX_BODY_BYTES + 4 * 1024 * 1024}`);
  const at = secs(Date.now() - t0);
  return r.error ? `${r.error} after ${at}` : `status ${r.status} after ${at}`;
}

/** A scrape with a wrong basic-auth password (random, so no cache can help). */
export async function wrongPassword(a: Aim): Promise<string> {
  const basic = `Basic ${Buffer.from(`prometheus:wrong-${randomBytes(6).toString('hex')}`).toString('base64')}`;
  const r = await scrapeOnce(a.proxy, `${a.exporter}/metrics`, { basic });
  return r.error ?? `status ${r.status}`;
}

/** An upstream-style poll for one of 200 made-up FQDNs, held 0-3 s, then a reset. */
export async function madeUpPoll(a: Aim): Promise<string> {
  const fqdn = `madeup-${randInt(0, 199)}.soak.invalid`;
  const c = connectRaw(a.proxy);
  if (!(await ready(c.s))) return (reset(c), 'could not connect');
  c.s.write(`POST ${PATH_POLL} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${fqdn.length}\r\n\r\n${fqdn}`);
  const answer = await Promise.race([firstBytes(c.s, 3000), sleep(randInt(0, 3000), a.signal).then(() => '')]);
  reset(c);
  return answer ? `answered ${statusOf(answer)}` : 'held, then reset';
}

/** A channel upgrade for a made-up FQDN, then frames the proxy must refuse. */
export async function garbageChannel(a: Aim): Promise<string> {
  const fqdn = `madeup-channel-${randInt(0, 49)}.soak.invalid`;
  const c = connectRaw(a.proxy);
  if (!(await ready(c.s))) return (reset(c), 'could not connect');
  c.s.write(`GET ${PATH_POLL} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: ${CHANNEL_PROTOCOL}\r\n${HEADER_CHANNEL}: ${fqdn}\r\n\r\n`);
  const head = await firstBytes(c.s, 5000);
  if (!head.startsWith('HTTP/1.1 101')) return (reset(c), `upgrade answered ${statusOf(head)}`);
  const kind = pick(['random bytes', 'unknown frame type', 'DATA without a REQUEST', 'END without a REQUEST', 'oversized control frame', 'truncated frame'] as const);
  const frame = {
    'random bytes': () => randomBytes(randInt(1, 256)),
    'unknown frame type': () => encodeFrame(99 as never, randomBytes(8)),
    'DATA without a REQUEST': () => encodeFrame(FRAME.DATA, Buffer.from('HTTP/1.1 200 OK\r\n\r\n')),
    'END without a REQUEST': () => encodeFrame(FRAME.END),
    'oversized control frame': () => frameHeader(FRAME.PONG, 0xffffffff),
    'truncated frame': () => frameHeader(FRAME.CLOSE, 1000),
  }[kind]();
  c.s.write(frame);
  const w = await watch(c, HOLD_CAP_MS, a.signal);
  return `${kind}: ${w.closedByPeer ? `closed by proxy after ${secs(w.afterMs)}` : `still open at ${secs(w.afterMs)}`}`;
}

/** A large scrape (8 MB) the scraper hangs up on mid-body, with a FIN or a reset. */
export async function hangUpMidBody(a: Aim, bytes: number): Promise<string> {
  const cutAt = randInt(1, bytes - 1);
  const how = pick(['destroy', 'reset'] as const);
  const r = await scrapeOnce(a.proxy, `${a.exporter}/big?bytes=${bytes}`, {
    onChunk: (n, req) => {
      if (n < cutAt) return;
      if (how === 'reset' && req.socket && !req.socket.destroyed) {
        // Under TLS the TCP socket is the TLS socket's parent; a reset goes to it.
        // A TLSSocket over its own TCP handle cannot be reset (ERR_INVALID_HANDLE_TYPE): then it is a plain destroy.
        try {
          req.socket.resetAndDestroy();
        } catch {
          // fall through to destroy
        }
      }
      req.destroy();
    },
  });
  if (r.error === undefined) return `not cut: status ${r.status}, ${r.bytes} bytes`;
  return `hung up (${how}) after ${r.bytes < 1024 * 1024 ? '<1 MB' : `${Math.floor(r.bytes / 1024 / 1024)} MB`}`;
}
