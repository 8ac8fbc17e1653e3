import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * The first port the kernel hands out for outgoing connections and `listen(0)`
 * (Linux default 32768). Ports from freePort lie below it: a port taken from
 * the ephemeral range can become the local port of some other test's outgoing
 * connection between freePort and the program's bind, which then fails with
 * EADDRINUSE (seen in CI as a nats-server that never listened).
 */
const EPHEMERAL_LOW = ((): number => {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'latin1').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 20_000 && low < 65_536 ? low : 32_768;
  } catch {
    return 32_768;
  }
})();
const RANGE_LOW = 20_000;
const RANGE = EPHEMERAL_LOW - RANGE_LOW;
/** Each test process walks the range from its own random start, so it never hands out one port twice. */
let cursor = Math.floor(Math.random() * RANGE);

function bindable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/**
 * A port that was free a moment ago on `host`, below the ephemeral range, for
 * programs that cannot report the port they bound (Prometheus, node_exporter,
 * nats-server). Two test processes could still pick the same port at once;
 * that race is accepted for tests.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const port = RANGE_LOW + (cursor++ % RANGE);
    if (await bindable(host, port)) return port;
  }
  throw new Error(`no bindable port on ${host} among 500 tried in ${RANGE_LOW}-${EPHEMERAL_LOW - 1}`);
}

/** Resolves once `host:port` accepts TCP connections; rejects after `timeoutMs`. */
export async function waitListening(host: string, port: number, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect({ host, port }, () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
