import http from 'node:http';
import type net from 'node:net';
import { HEADER_POLL_CAPACITY, PATH_POLL } from '@pushprox/shared';
import { openRawChannel } from './raw-channel.js';

/** How the fake idle clients of scenario iv reach the proxy. */
export type IdleMode = 'poll' | 'channel';

/** The fake idle clients of one scenario iv row, each from its own loopback address. */
export interface IdleConns {
  /** Connects client `i` (FQDN `idle-<i>.bench`); it stays connected until stop(). */
  connect(i: number): void;
  /** Polls sent (poll) or channels opened (channel), first ones included. */
  readonly opened: number;
  /** PINGs answered (channel only). */
  readonly pongs: number;
  stop(): void;
}

/** 127.2.0.1 onwards: each client its own source address, as on a real network. */
const idleAddress = (i: number): string => `127.${2 + (i >> 16)}.${(i >> 8) & 255}.${(i & 255) || 1}`;

const RETRY_MS = 1000;

/** Built-in idle clients for `mode`, against the proxy on 127.0.0.1:`port`. */
export function idleConns(mode: IdleMode, port: number): IdleConns {
  return mode === 'poll' ? pollConns(port) : channelConns(port);
}

/** One keep-alive connection and one waiting poll (capacity 1) per client, re-polled as soon as a poll ends. */
function pollConns(port: number): IdleConns {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  let stopped = false;
  let opened = 0;
  const poll = (i: number): void => {
    if (stopped) return;
    opened++;
    const body = `idle-${i}.bench`;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: PATH_POLL,
        method: 'POST',
        agent,
        localAddress: idleAddress(i),
        headers: { 'Content-Length': Buffer.byteLength(body), [HEADER_POLL_CAPACITY]: '1' },
      },
      (res) => {
        res.resume();
        // On the next turn, so the agent has freed the socket and the re-poll reuses it.
        res.on('end', () => setImmediate(poll, i));
      },
    );
    req.on('error', () => setTimeout(() => poll(i), RETRY_MS).unref());
    req.end(body);
  };
  return {
    connect: poll,
    get opened() {
      return opened;
    },
    pongs: 0,
    stop() {
      stopped = true;
      agent.destroy();
    },
  };
}

/**
 * One channel per client, as our client holds while idle: the upgrade, then
 * a PONG for every PING. A channel that closes is opened again after a second.
 */
function channelConns(port: number): IdleConns {
  const sockets = new Set<net.Socket>();
  let stopped = false;
  let opened = 0;
  let pongs = 0;
  const open = (i: number): void => {
    if (stopped) return;
    opened++;
    const socket = openRawChannel({
      host: '127.0.0.1',
      port,
      localAddress: idleAddress(i),
      fqdn: `idle-${i}.bench`,
      capacity: 1,
      onPing: () => pongs++,
      onFrame: (type) => socket.destroy(new Error(`an idle channel got frame type ${type}`)),
    });
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      if (!stopped) setTimeout(() => open(i), RETRY_MS).unref();
    });
  };
  return {
    connect: open,
    get opened() {
      return opened;
    },
    get pongs() {
      return pongs;
    },
    stop() {
      stopped = true;
      for (const s of sockets) s.destroy();
    },
  };
}
