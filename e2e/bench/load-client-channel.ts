import net from 'node:net';
import type { Readable } from 'node:stream';
import {
  CHANNEL_PROTOCOL,
  DATA_FRAME_BYTES,
  encodeFrame,
  FRAME,
  frameHeader,
  FrameReader,
  HEADER_CHANNEL,
  HEADER_POLL_CAPACITY,
  PATH_POLL,
} from '@pushprox/shared';

/**
 * The built-in load client's channels (FEATURE_CHANNEL), as our client holds
 * them by default: per FQDN one channel to start, one more whenever a scrape
 * request leaves none idle (at most MAX_CHANNELS_PER_FQDN), each answering
 * PING with PONG and a REQUEST with the pushed response as DATA frames and END.
 */

/** Our client's default --scrape.max-parallel: the most channels one FQDN holds. */
export const MAX_CHANNELS_PER_FQDN = 16;
/** A channel that closes is opened again after this long. */
const RETRY_MS = 1000;
const PONG = encodeFrame(FRAME.PONG);
const END = encodeFrame(FRAME.END);

/** Where one scrape's pushed response goes: the channel its request came on. */
export interface ChannelSink {
  /** Writes `head`, then `body` (or `bytes`) as DATA frames, then END; resolves once written. */
  send(head: Buffer, body: Readable | undefined, bytes?: Buffer): Promise<void>;
}

export interface ChannelLoadOptions {
  readonly host: string;
  readonly port: number;
  /** A scrape request arrived (a poll reply's body, copied); answer through `sink`. */
  onRequest(fqdn: string, request: Buffer, sink: ChannelSink): void;
  onError(err: Error): void;
}

/** Opens the first channel of `fqdn` (from its own address `fqdn`) and keeps it and its siblings open until stop(). */
export function channelLoad(opts: ChannelLoadOptions): { start(fqdn: string): void; stop(): void } {
  const sockets = new Set<net.Socket>();
  /** Per FQDN: its channels, and those of them upgraded and waiting for a REQUEST. */
  const open = new Map<string, Set<net.Socket>>();
  const idle = new Map<string, Set<net.Socket>>();
  const setOf = (m: Map<string, Set<net.Socket>>, fqdn: string): Set<net.Socket> => {
    let set = m.get(fqdn);
    if (!set) m.set(fqdn, (set = new Set()));
    return set;
  };
  let stopped = false;

  const openChannel = (fqdn: string): void => {
    if (stopped) return;
    const socket = net.connect({ host: opts.host, port: opts.port, localAddress: fqdn });
    sockets.add(socket);
    setOf(open, fqdn).add(socket);
    socket.setNoDelay(true);
    socket.write(
      `GET ${PATH_POLL} HTTP/1.1\r\nHost: ${opts.host}:${opts.port}\r\nConnection: Upgrade\r\nUpgrade: ${CHANNEL_PROTOCOL}\r\n` +
        `${HEADER_CHANNEL}: ${fqdn}\r\n${HEADER_POLL_CAPACITY}: ${MAX_CHANNELS_PER_FQDN}\r\n\r\n`,
    );
    let busy = false;
    let upgraded = false;
    const sink: ChannelSink = {
      async send(head, body, bytes) {
        try {
          if (socket.destroyed) throw new Error(`channel of ${fqdn} closed before its push`);
          socket.cork();
          socket.write(frameHeader(FRAME.DATA, head.length));
          socket.write(head);
          if (bytes) {
            socket.write(frameHeader(FRAME.DATA, bytes.length));
            socket.write(bytes);
          }
          socket.uncork();
          if (body) {
            for await (const chunk of body) {
              const buf = chunk as Buffer;
              for (let at = 0; at < buf.length; at += DATA_FRAME_BYTES) {
                const piece = buf.subarray(at, at + DATA_FRAME_BYTES);
                socket.cork();
                socket.write(frameHeader(FRAME.DATA, piece.length));
                const ok = socket.write(piece);
                socket.uncork();
                if (!ok) await new Promise((r) => socket.once('drain', r).once('close', r));
                if (socket.destroyed) throw new Error(`channel of ${fqdn} closed mid-push`);
              }
            }
          }
          socket.write(END);
        } catch (err) {
          socket.destroy();
          throw err;
        } finally {
          busy = false;
          if (!socket.destroyed) setOf(idle, fqdn).add(socket);
        }
      },
    };
    const frames = new FrameReader(
      {
        onData: () => socket.destroy(new Error('DATA from the proxy')),
        onFrame: (type, payload) => {
          if (type === FRAME.PING) return void socket.write(PONG);
          if (type === FRAME.ERROR) return opts.onError(new Error(`proxy: ${payload.toString('utf8')}`));
          if (busy) return void socket.destroy(new Error('a second REQUEST before END'));
          busy = true;
          const waiting = setOf(idle, fqdn);
          waiting.delete(socket);
          // As our client's pool: no idle channel left for the next scrape, so open one.
          if (waiting.size === 0 && setOf(open, fqdn).size < MAX_CHANNELS_PER_FQDN) openChannel(fqdn);
          opts.onRequest(fqdn, Buffer.from(payload), sink);
        },
      },
      [FRAME.REQUEST, FRAME.PING, FRAME.ERROR],
    );
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      try {
        if (upgraded) return frames.push(chunk);
        head += chunk.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!head.startsWith('HTTP/1.1 101 ')) throw new Error(`channel upgrade for ${fqdn} refused: ${head.slice(0, 80)}`);
        upgraded = true;
        setOf(idle, fqdn).add(socket);
        const rest = Buffer.from(head.slice(end + 4), 'latin1');
        if (rest.length > 0) frames.push(rest);
      } catch (err) {
        socket.destroy(err as Error);
      }
    });
    socket.on('error', (err) => opts.onError(err));
    socket.on('close', () => {
      sockets.delete(socket);
      setOf(open, fqdn).delete(socket);
      setOf(idle, fqdn).delete(socket);
      if (!stopped && setOf(open, fqdn).size === 0) setTimeout(() => openChannel(fqdn), RETRY_MS).unref();
    });
  };

  return {
    start: openChannel,
    stop() {
      stopped = true;
      for (const s of sockets) s.destroy();
    },
  };
}
