import net from 'node:net';
import tls from 'node:tls';
import {
  CHANNEL_PROTOCOL,
  encodeFrame,
  FRAME,
  FrameReader,
  HEADER_CHANNEL,
  HEADER_ID,
  HEADER_SCRAPE_TIMEOUT,
  PATH_POLL,
  parseRequest,
} from '@pushprox/shared';

/**
 * Byte-level peers for tests against a proxy process: a channel client that
 * hands each scrape request to a callback, and a Prometheus-style scrape read
 * to the end of its connection.
 */

export interface RawChannel {
  readonly socket: net.Socket;
  /** Resolves once the proxy answered 101. */
  readonly upgraded: Promise<void>;
  /** Frames the proxy sent after the upgrade (ERROR payloads as text). */
  readonly errors: string[];
}

/** One DATA frame per piece, then END: a complete push of `response`. */
export function pushFrames(response: Buffer): Buffer {
  return Buffer.concat([encodeFrame(FRAME.DATA, response), encodeFrame(FRAME.END)]);
}

/** A channel for `fqdn` (on `opts.socket` if given); `onRequest(id, socket)` runs for each scrape the proxy hands it. */
export function openChannel(
  port: number,
  fqdn: string,
  onRequest: (id: string, socket: net.Socket) => void,
  opts: { tls?: boolean; socket?: net.Socket } = {},
): RawChannel {
  const socket: net.Socket =
    opts.socket ??
    (opts.tls ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }) : net.connect({ host: '127.0.0.1', port }));
  socket.on('error', () => undefined);
  socket.write(
    `GET ${PATH_POLL} HTTP/1.1\r\nHost: proxy\r\nConnection: Upgrade\r\nUpgrade: ${CHANNEL_PROTOCOL}\r\n${HEADER_CHANNEL}: ${fqdn}\r\n\r\n`,
  );
  const errors: string[] = [];
  const frames = new FrameReader(
    {
      onData: () => undefined,
      onFrame: (type, payload) => {
        if (type === FRAME.PING) socket.write(encodeFrame(FRAME.PONG));
        else if (type === FRAME.ERROR) errors.push(payload.toString('utf8'));
        else if (type === FRAME.REQUEST) {
          const id = parseRequest(Buffer.from(payload)).head.headers.get(HEADER_ID);
          if (id !== undefined) onRequest(id, socket);
        }
      },
    },
    [FRAME.REQUEST, FRAME.PING, FRAME.ERROR, FRAME.RECONNECT],
  );
  let head: string | undefined = '';
  const upgraded = new Promise<void>((resolve, reject) => {
    socket.on('close', () => reject(new Error(`channel for ${fqdn} closed before its upgrade: ${head}`)));
    socket.on('data', (chunk: Buffer) => {
      if (head === undefined) {
        try {
          frames.push(chunk);
        } catch {
          socket.destroy();
        }
        return;
      }
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!head.startsWith('HTTP/1.1 101 ')) return reject(new Error(`channel upgrade refused: ${head.slice(0, 120)}`));
      const rest = Buffer.from(head.slice(end + 4), 'latin1');
      head = undefined;
      resolve();
      if (rest.length > 0) frames.push(rest);
    });
  });
  upgraded.catch(() => undefined);
  return { socket, upgraded, errors };
}

/** A complete pushed response for scrape `id` with `body`. */
export function pushedResponse(id: string, body: string): Buffer {
  return Buffer.from(`HTTP/1.1 200 OK\r\n${HEADER_ID}: ${id}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

export interface ScrapeAnswer {
  readonly status: number;
  readonly text: string;
  readonly ms: number;
}

/** A Prometheus-style scrape through the proxy (`Connection: close`), read to the end. */
export function scrape(port: number, fqdn: string, timeoutSeconds = 5, opts: { tls?: boolean } = {}): Promise<ScrapeAnswer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket: net.Socket = opts.tls
      ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false })
      : net.connect({ host: '127.0.0.1', port });
    const parts: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error('no answer within the scrape timeout plus 5 s')), timeoutSeconds * 1000 + 5_000);
    socket.write(
      `GET http://${fqdn}:9100/metrics HTTP/1.1\r\nHost: ${fqdn}:9100\r\nConnection: close\r\n${HEADER_SCRAPE_TIMEOUT}: ${timeoutSeconds}\r\n\r\n`,
    );
    socket.on('data', (c: Buffer) => parts.push(c));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(parts).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, text, ms: performance.now() - started });
    });
  });
}
