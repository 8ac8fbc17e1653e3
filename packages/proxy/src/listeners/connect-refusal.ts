import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '@pushprox/shared';
import { WarnAggregator } from '../warn-aggregator.js';
import { endThenDestroy } from './connection-guard.js';

const CONNECT_REASON = 'CONNECT not supported: scrape https targets with scheme http and params _scheme=[https]';
const CONNECT_BODY =
  'pushprox-proxy cannot tunnel CONNECT: it must see the scrape to route it to a client.\n' +
  'For an https target keep `scheme: http` in the Prometheus job and add\n' +
  '  params:\n    _scheme: [https]\n' +
  'The client then scrapes the target over https.\n';

/**
 * The listeners' answer to CONNECT (server.on('connect')): 501 with how to
 * scrape an https target instead, as upstream cannot tunnel either. Anyone
 * who reaches a listener can send CONNECTs: one log line per source, then a
 * count a minute; `observe` counts each as a proxied request with its status.
 */
export function connectRefusal(logger: Logger, observe: (status: number) => void): (req: IncomingMessage, socket: Socket) => void {
  const warnings = new WarnAggregator({ logger, msg: 'Refused CONNECT' });
  const answer =
    `HTTP/1.1 501 ${CONNECT_REASON}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(CONNECT_BODY)}\r\nConnection: close\r\n\r\n${CONNECT_BODY}`;
  return (req, socket) => {
    warnings.note(socket.remoteAddress ?? 'unknown', { target: req.url });
    observe(501);
    // The socket keeps the 'error' listener every accepted socket has (connection-guard.ts).
    if (!socket.writable) return void socket.destroy();
    // Node's HTTP server stops reading a socket it hands over on 'connect'. Unread input hid
    // the peer's FIN or RST: a TLS socket sent a CONNECT, bytes after it and a FIN, then reset
    // by the peer, was held open for good. Read and drop the rest, and destroy after the grace.
    socket.resume();
    endThenDestroy(socket, answer);
  };
}
