import net from 'node:net';
import {
  CHANNEL_PROTOCOL,
  encodeFrame,
  FRAME,
  HEADER_CHANNEL,
  HEADER_ID,
  HEADER_SCRAPE_TIMEOUT,
  PATH_POLL,
} from '@pushprox/shared';
import { openConn, type Conn } from './chaos-peers.js';
import { openChannel } from '../raw-peers.js';

/**
 * The exchanges of the proxy's socket-chaos test: each gives the message a
 * hostile peer sends, and what must exist before it is sent (a parked
 * scrape for a push, an open channel holding a scrape for its frames).
 */

export interface Target {
  /** Port of the listener serving scrapes, /clients and /metrics. */
  readonly port: number;
  /** Port of the listener serving /poll, /push, channels and /enroll. */
  readonly clientPort: number;
  readonly secure: boolean;
}

/** One case's message, where to send it, and what it leaves to wait for. */
export interface Prepared {
  readonly message: Buffer;
  /** Sends on this connection (already open; for a channel, already upgraded). */
  readonly conn: Conn;
  /** Scrapes parked for the case: each must get a complete answer or a close, never hang. */
  readonly scrapes: Array<Promise<void>>;
  /** Other sockets of the case's set-up, ended when the case is done. */
  readonly extra: net.Socket[];
}

export interface Exchange {
  readonly name: string;
  /** The message's length, for its offsets (one message per exchange; only Ids vary). */
  readonly length: number;
  /** Whether `stall` applies: the proxy must cut a stalled peer by its read timeouts. */
  readonly stalls: boolean;
  /** Whether a complete message legitimately leaves the connection waiting (a poll, a channel). */
  readonly waitsWhenComplete: boolean;
  prepare(t: Target, n: number): Promise<Prepared>;
}

const ID_PLACEHOLDER = '00000000-0000-4000-8000-000000000000';
const b = (s: string): Buffer => Buffer.from(s, 'latin1');

export const scrapeHead = (fqdn: string, seconds = 1): Buffer =>
  b(`GET http://${fqdn}:9100/metrics HTTP/1.1\r\nHost: ${fqdn}:9100\r\nAccept: text/plain;version=0.0.4\r\n${HEADER_SCRAPE_TIMEOUT}: ${seconds}\r\nConnection: close\r\n\r\n`);

const pollMessage = (fqdn: string): Buffer => b(`POST ${PATH_POLL} HTTP/1.1\r\nHost: proxy\r\nContent-Length: ${fqdn.length}\r\n\r\n${fqdn}`);

const upgradeMessage = (fqdn: string): Buffer =>
  b(`GET ${PATH_POLL} HTTP/1.1\r\nHost: proxy\r\nConnection: Upgrade\r\nUpgrade: ${CHANNEL_PROTOCOL}\r\n${HEADER_CHANNEL}: ${fqdn}\r\n\r\n`);

function pushedResponse(id: string, body: Buffer): Buffer {
  return Buffer.concat([b(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n${HEADER_ID}: ${id}\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
}

function pushMessage(id: string, body: Buffer): Buffer {
  const inner = pushedResponse(id, body);
  return Buffer.concat([b(`POST /push HTTP/1.1\r\nHost: proxy\r\nContent-Length: ${inner.length}\r\n\r\n`), inner]);
}

/** A scrape that waits for an answer, read to its end; resolves when the proxy closed it. */
async function parkedScrape(t: Target, fqdn: string, seconds: number): Promise<{ done: Promise<void>; socket: net.Socket }> {
  const c = await openConn(t.port, t.secure);
  c.sock.write(scrapeHead(fqdn, seconds));
  return { done: c.closed, socket: c.sock };
}

/** A request with no set-up: the message alone, on the listener of `role`. */
function plain(name: string, message: Buffer, role: 'scraper' | 'client', opts: { waits?: boolean } = {}): Exchange {
  return {
    name,
    length: message.length,
    stalls: true,
    waitsWhenComplete: opts.waits ?? false,
    prepare: async (t) => ({
      message,
      conn: await openConn(role === 'scraper' ? t.port : t.clientPort, t.secure),
      scrapes: [],
      extra: [],
    }),
  };
}

/** Resolves with `p`, or rejects saying `what` did not happen within 3 s. */
function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`expected ${what} within 3 s`)), 3_000)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** The Id of the scrape request in a poll's reply. */
function pollReply(poll: Conn): Promise<string> {
  const pattern = new RegExp(`\\r\\n\\r\\n[\\s\\S]*\\r\\n${HEADER_ID}: ([0-9a-f-]{36})\\r\\n`, 'i');
  return new Promise((resolve) => {
    const check = (): void => {
      const m = pattern.exec(poll.received());
      if (!m) return;
      poll.sock.off('data', check);
      resolve(m[1]!);
    };
    poll.sock.on('data', check);
    check();
  });
}

/** A /push answering a scrape parked by an upstream-shaped poll of the case's own FQDN. */
function push(name: string, body: Buffer): Exchange {
  return {
    name,
    length: pushMessage(ID_PLACEHOLDER, body).length,
    stalls: true,
    waitsWhenComplete: false,
    prepare: async (t, n) => {
      const fqdn = `chaos-push-${n}.example`;
      // Registers the FQDN first (our hello is answered at once), so the scrape waits for the poll.
      const hello = await openConn(t.clientPort, t.secure);
      hello.sock.end(b(`POST ${PATH_POLL} HTTP/1.1\r\nHost: proxy\r\nX-Pushprox-Poll-Capacity: 1\r\nX-Pushprox-Hello: 1\r\nConnection: close\r\nContent-Length: ${fqdn.length}\r\n\r\n${fqdn}`));
      await within(hello.closed, `the hello poll of ${fqdn} answered`);
      const poll = await openConn(t.clientPort, t.secure);
      poll.sock.write(pollMessage(fqdn));
      const scrape = await parkedScrape(t, fqdn, 2);
      const id = await within(pollReply(poll), `a scrape request in the poll reply of ${fqdn}`);
      return { message: pushMessage(id, body), conn: await openConn(t.clientPort, t.secure), scrapes: [scrape.done], extra: [poll.sock, scrape.socket] };
    },
  };
}

/** A channel of the case's own FQDN holding a scrape: the message is the push's frames. */
function channelFrames(name: string, body: Buffer): Exchange {
  const frames = (id: string): Buffer => Buffer.concat([encodeFrame(FRAME.DATA, pushedResponse(id, body)), encodeFrame(FRAME.END)]);
  return {
    name,
    length: frames(ID_PLACEHOLDER).length,
    // A busy channel is watched by the channel sweep (minutes), not by the read timeouts.
    stalls: false,
    waitsWhenComplete: true,
    prepare: async (t, n) => {
      const fqdn = `chaos-ch-${n}.example`;
      const conn = await openConn(t.clientPort, t.secure);
      let gotId: (id: string) => void = () => undefined;
      const idP = new Promise<string>((r) => (gotId = r));
      const ch = openChannel(t.clientPort, fqdn, (id) => gotId(id), { socket: conn.sock });
      await within(ch.upgraded, `the channel of ${fqdn} upgraded`);
      const scrape = await parkedScrape(t, fqdn, 2);
      const id = await within(idP, `a scrape request on the channel of ${fqdn}`);
      return { message: frames(id), conn, scrapes: [scrape.done], extra: [scrape.socket] };
    },
  };
}

/** Every exchange each listener shape is tested with; `enroll` only where enrollment is on. */
export function exchanges(opts: { enroll: boolean }): Exchange[] {
  const small = b('up{job="chaos"} 1\n');
  const large = Buffer.alloc(1024 * 1024, 'm');
  return [
    plain('scrape', scrapeHead('chaos-target.example'), 'scraper'),
    plain('connect', b('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'), 'scraper'),
    plain('clients', b('GET /clients HTTP/1.1\r\nHost: proxy\r\n\r\n'), 'scraper'),
    plain('metrics', b('GET /metrics HTTP/1.1\r\nHost: proxy\r\n\r\n'), 'scraper'),
    plain('poll', pollMessage('chaos-poll.example'), 'client', { waits: true }),
    plain('channel-upgrade', upgradeMessage('chaos-upgrade.example'), 'client', { waits: true }),
    ...(opts.enroll
      ? [
          plain('enroll', b('POST /enroll HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer not-a-token-of-this-proxy\r\nContent-Type: application/pkcs10\r\nContent-Length: 64\r\n\r\n-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n'), 'client'),
          plain('enroll-ca', b('GET /enroll/ca HTTP/1.1\r\nHost: proxy\r\n\r\n'), 'client'),
        ]
      : []),
    push('push', small),
    push('push-1MB', large),
    channelFrames('channel-frames', small),
    channelFrames('channel-frames-1MB', large),
  ];
}
