import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';

/**
 * Start-up timings for the footprint scenario: how long a client takes from
 * spawn() to its first request at the proxy, and how long `--help` takes.
 * Every process started here is killed by its PID, and every wait is bounded.
 */

/** A program and its arguments; `proxyUrl` is filled in per run. */
export interface Launch {
  readonly cmd: string;
  readonly args: (proxyUrl: string) => readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

/** TLS for the raw listener, so an mTLS client's first request can be read. */
export interface ListenerTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

export interface FirstRequest {
  /** From just before spawn() to the first request line read on the listener. */
  readonly ms: number;
  /** That request line, e.g. `GET /poll HTTP/1.1`. */
  readonly line: string;
}

/**
 * Spawns `launch` against a loopback listener that answers nothing and
 * resolves when the first HTTP request line arrives (the client's first poll
 * or channel upgrade). Rejects if the program exits first or after `timeoutMs`.
 */
export async function firstRequest(launch: Launch, listenerTls?: ListenerTls, timeoutMs = 20_000): Promise<FirstRequest> {
  const sockets = new Set<net.Socket>();
  let t0 = 0;
  let onLine: (line: string) => void = () => undefined;
  const seen = new Promise<FirstRequest>((resolve) => {
    onLine = (line) => resolve({ ms: performance.now() - t0, line });
  });
  const onSocket = (s: net.Socket): void => {
    sockets.add(s);
    s.on('error', () => s.destroy());
    s.on('close', () => sockets.delete(s));
    let head = '';
    s.on('data', (c: Buffer) => {
      // Bounded: only the first line matters, and it fits in 4 KiB.
      if (head.length < 4096) head += c.toString('latin1');
      const eol = head.indexOf('\r\n');
      if (eol > 0) onLine(head.slice(0, eol));
    });
  };
  const server = listenerTls
    ? tls.createServer({ ...listenerTls, requestCert: true, rejectUnauthorized: true }, onSocket)
    : net.createServer(onSocket);
  server.on('error', () => undefined);
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  t0 = performance.now();
  const child = spawn(launch.cmd, [...launch.args(`${listenerTls ? 'https' : 'http'}://127.0.0.1:${port}`)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(launch.env && { env: { ...process.env, ...launch.env } }),
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => void (stderr.length < 8192 && (stderr += c.toString())));
  child.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      seen,
      new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${launch.cmd} exited ${code} before its first request:\n${stderr}`)))),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${launch.cmd}: no request within ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  }
}

/** `/usr/bin/time` (Debian's `time` package): the peak RSS of a short run. */
const GNU_TIME = '/usr/bin/time';

export interface ShortRun {
  readonly ms: number;
  /** Peak RSS (VmHWM) in bytes; NaN without /usr/bin/time. */
  readonly peakRss: number;
}

/**
 * Runs `cmd args` to its end (e.g. `--help`): wall time from spawn() to exit
 * (through /usr/bin/time when present, which adds its own exec), and the peak
 * RSS /usr/bin/time reports. Rejects on a non-zero exit or after `timeoutMs`.
 */
export async function shortRun(cmd: string, args: readonly string[], timeoutMs = 20_000): Promise<ShortRun> {
  const timed = existsSync(GNU_TIME);
  const argv = timed ? [GNU_TIME, '-f', 'maxrss_kb=%M', cmd, ...args] : [cmd, ...args];
  const t0 = performance.now();
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => void (stderr.length < 65536 && (stderr += c.toString())));
  child.on('error', () => undefined);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const ms = performance.now() - t0;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${stderr}`);
  const kb = /maxrss_kb=(\d+)/.exec(stderr);
  return { ms, peakRss: kb ? Number(kb[1]) * 1024 : NaN };
}
