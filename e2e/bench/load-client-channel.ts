import type net from 'node:net';
import type { Readable } from 'node:stream';
import { DATA_FRAME_BYTES, encodeFrame, FRAME, frameHeader } from '@pushprox/shared';
import { openRawChannel } from './raw-channel.js';

/**
 * The built-in load client's channels (FEATURE_CHANNEL), as our client holds
 * them by default: per FQDN one channel to start, one more whenever a scrape
 * request leaves none idle (at most MAX_CHANNELS_PER_FQDN), each answering
 * PING with PONG (raw-channel.ts) and a REQUEST with the pushed response as DATA frames and END.
 */

/**
 * The most channels one FQDN holds, and the capacity it declares: room for (ii)'s 8
 * parallel scrapes and a spare (our client's own cap is --scrape.concurrency, default 8).
 */
export const MAX_CHANNELS_PER_FQDN = 16;
/** A channel that closes is opened again after this long. */
const RETRY_MS = 1000;
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
    let busy = false;
    const socket = openRawChannel({
      host: opts.host,
      port: opts.port,
      localAddress: fqdn,
      fqdn,
      capacity: MAX_CHANNELS_PER_FQDN,
      onUpgraded: () => setOf(idle, fqdn).add(socket),
      onFrame: (type, payload) => {
        if (type === FRAME.ERROR) return opts.onError(new Error(`proxy: ${payload.toString('utf8')}`));
        if (busy) return void socket.destroy(new Error('a second REQUEST before END'));
        busy = true;
        const waiting = setOf(idle, fqdn);
        waiting.delete(socket);
        // As our client's pool: no idle channel left for the next scrape, so open one.
        if (waiting.size === 0 && setOf(open, fqdn).size < MAX_CHANNELS_PER_FQDN) openChannel(fqdn);
        opts.onRequest(fqdn, Buffer.from(payload), sink);
      },
    });
    setOf(open, fqdn).add(socket);
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
    socket.on('error', (err) => opts.onError(err));
    socket.on('close', () => {
      setOf(open, fqdn).delete(socket);
      setOf(idle, fqdn).delete(socket);
      if (!stopped && setOf(open, fqdn).size === 0) setTimeout(() => openChannel(fqdn), RETRY_MS).unref();
    });
  };

  return {
    start: openChannel,
    stop() {
      stopped = true;
      for (const set of open.values()) for (const s of set) s.destroy();
    },
  };
}
