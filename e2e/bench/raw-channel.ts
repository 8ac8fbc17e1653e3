import net from 'node:net';
import {
  CHANNEL_PROTOCOL,
  encodeFrame,
  FRAME,
  FrameReader,
  HEADER_CHANNEL,
  HEADER_POLL_CAPACITY,
  messageOf,
  PATH_POLL,
  type FrameType,
} from '@pushprox/shared';

const PONG = encodeFrame(FRAME.PONG);

export interface RawChannelOptions {
  /** The proxy. */
  readonly host: string;
  readonly port: number;
  /** The bench client's own loopback address. */
  readonly localAddress: string;
  readonly fqdn: string;
  /** HEADER_POLL_CAPACITY sent with the upgrade. */
  readonly capacity: number;
  /** A PING arrived and its PONG was written. */
  onPing?(): void;
  /** Any frame but PING (REQUEST or ERROR); `payload` may share memory with the chunk read. */
  onFrame(type: FrameType, payload: Buffer): void;
  /** The proxy answered 101: frames follow. */
  onUpgraded?(): void;
}

/**
 * A bench client's channel (FEATURE_CHANNEL) on a plain socket: the upgrade
 * request, the 101, then frames. A refused upgrade or a frame the proxy may
 * not send destroys the socket with the reason (its 'error' event).
 */
export function openRawChannel(o: RawChannelOptions): net.Socket {
  const socket = net.connect({ host: o.host, port: o.port, localAddress: o.localAddress });
  socket.setNoDelay(true);
  socket.write(
    `GET ${PATH_POLL} HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nConnection: Upgrade\r\nUpgrade: ${CHANNEL_PROTOCOL}\r\n` +
      `${HEADER_CHANNEL}: ${o.fqdn}\r\n${HEADER_POLL_CAPACITY}: ${o.capacity}\r\n\r\n`,
  );
  const frames = new FrameReader(
    {
      // Unreachable: DATA is not among the accepted types, so the reader throws first.
      onData: () => undefined,
      onFrame: (type, payload) => {
        if (type !== FRAME.PING) return o.onFrame(type, payload);
        socket.write(PONG);
        o.onPing?.();
      },
    },
    [FRAME.REQUEST, FRAME.PING, FRAME.ERROR],
  );
  let head: string | undefined = '';
  socket.on('data', (chunk: Buffer) => {
    try {
      if (head === undefined) return frames.push(chunk);
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!head.startsWith('HTTP/1.1 101 ')) throw new Error(`channel upgrade for ${o.fqdn} refused: ${head.slice(0, 80)}`);
      const rest = Buffer.from(head.slice(end + 4), 'latin1');
      head = undefined;
      o.onUpgraded?.();
      if (rest.length > 0) frames.push(rest);
    } catch (err) {
      socket.destroy(err instanceof Error ? err : new Error(messageOf(err)));
    }
  });
  return socket;
}
