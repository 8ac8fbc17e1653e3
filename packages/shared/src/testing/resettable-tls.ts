import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';

/**
 * A TLS client connection that a test can reset at any moment: TLS runs over
 * a JS stream bridged to the TCP socket `raw`, so `raw.resetAndDestroy()`
 * sends an RST. Node 20 segfaulted (BIO_read in TLSWrap::ClearOut) when the
 * TCP socket under `tls.connect({ socket })` was reset while TLS still read
 * from it; over a JS stream TLS never holds the TCP handle. Both sockets have
 * 'error' listeners for their whole life.
 */
export function connectResettableTls(opts: tls.ConnectionOptions & { host: string; port: number }): { tls: tls.TLSSocket; raw: net.Socket } {
  const raw = net.connect({ host: opts.host, port: opts.port });
  raw.on('error', () => undefined);
  const { host: _host, port: _port, ...rest } = opts;
  const secure = tls.connect({ ...rest, socket: bridge(raw) });
  secure.on('error', () => undefined);
  return { tls: secure, raw };
}

function bridge(raw: net.Socket): Duplex {
  const d = new Duplex({
    read: () => void raw.resume(),
    write: (chunk: Buffer, _enc, cb) => (raw.destroyed ? cb() : void raw.write(chunk, () => cb())),
    final: (cb) => {
      raw.end();
      cb();
    },
    // Destroying the TLS socket closes the TCP socket too (a reset already did).
    destroy: (_err, cb) => {
      raw.destroy();
      cb(null);
    },
  });
  d.on('error', () => undefined);
  raw.on('data', (c: Buffer) => {
    if (!d.push(c)) raw.pause();
  });
  raw.on('end', () => d.push(null));
  raw.on('close', () => d.destroy());
  return d;
}
