import net from 'node:net';

/**
 * The least a Node relay process can do, as a floor for the proxy and the
 * client: a TCP forwarder (node:net streams, no HTTP) that pipes every
 * connection accepted on 127.0.0.1 both ways to `--to=<port>` on 127.0.0.1.
 * Prints `ready <port>` once listening; ends on SIGTERM.
 */
const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const to = Number(args.get('to'));
if (!Number.isInteger(to) || to <= 0 || to > 65535) throw new Error(`--to: expected a TCP port, got ${JSON.stringify(args.get('to'))}`);

const server = net.createServer((down) => {
  const up = net.connect(to, '127.0.0.1');
  down.pipe(up);
  up.pipe(down);
  // pipe() does not pass errors on: a reset on either side closes both.
  down.on('error', () => up.destroy());
  up.on('error', () => down.destroy());
  down.on('close', () => up.destroy());
  up.on('close', () => down.destroy());
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
process.stdout.write(`ready ${(server.address() as net.AddressInfo).port}\n`);
process.on('SIGTERM', () => process.exit(0));
