import net from 'node:net';

/**
 * The least a Node relay process can do, as a floor for the proxy and the
 * client: a TCP forwarder (node:net, no HTTP) that forwards every connection
 * accepted on 127.0.0.1 both ways to `--to=<port>` on 127.0.0.1. Prints
 * `ready <port>` once listening; ends on SIGTERM.
 *
 * `--read=stream` (default): both ways are stream pipes; every socket read
 * lands in a new 64 KiB buffer, as in any Node HTTP server or undici.
 * `--read=buffer`: the connection it opens (the one the response comes back
 * on) reads into one reused 1 MiB buffer (net's `onread`), as a client doing
 * its own HTTP/1.1 on a raw socket could. Node offers this only for sockets
 * a program connects, never for those a server accepts, as all of the
 * proxy's are.
 */
const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const to = Number(args.get('to'));
if (!Number.isInteger(to) || to <= 0 || to > 65535) throw new Error(`--to: expected a TCP port, got ${JSON.stringify(args.get('to'))}`);
const read = args.get('read') ?? 'stream';
if (read !== 'stream' && read !== 'buffer') throw new Error(`--read: expected stream or buffer, got ${JSON.stringify(read)}`);

const READ_BUFFER_BYTES = 1024 * 1024;

/** `up`'s bytes to `down` through one reused buffer, which a write holds until it has reached the kernel. */
function bufferedUp(down: net.Socket): net.Socket {
  const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  const up: net.Socket = net.connect({
    port: to,
    host: '127.0.0.1',
    onread: {
      buffer,
      callback: (n: number): boolean => {
        down.write(buffer.subarray(0, n));
        // A write that did not complete at once still points into the buffer: read no more until it has.
        // pause(), not just `return false`: resume() restarts only reading that pause() stopped.
        if (down.writableLength === 0) return true;
        up.pause();
        down.once('drain', () => up.resume());
        return false;
      },
    },
  });
  up.on('end', () => down.end());
  return up;
}

const server = net.createServer((down) => {
  let up: net.Socket;
  if (read === 'buffer') {
    up = bufferedUp(down);
  } else {
    up = net.connect(to, '127.0.0.1');
    up.pipe(down);
  }
  down.pipe(up);
  // pipe() does not pass errors on: a reset on either side closes both.
  down.on('error', () => up.destroy());
  up.on('error', () => down.destroy());
  down.on('close', () => up.destroy());
  up.on('close', () => down.destroy());
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
process.stdout.write(`ready ${(server.address() as net.AddressInfo).port}\n`);
process.on('SIGTERM', () => process.exit(0));
