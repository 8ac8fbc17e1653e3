import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built proxy entry point, run as operators run it. */
export const PROXY_MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));

/**
 * A real pushprox-proxy process on loopback, for tests where a crash must be
 * observable as an exit and descriptors are counted in /proc.
 */
export interface ProxyProcess {
  readonly pid: number;
  /** Port of --web.listen-address. */
  readonly port: number;
  /** Port of --web.client-listen-address, or `port` with one listener. */
  readonly clientPort: number;
  /** Everything it wrote to stderr so far (bounded to the last 64 KiB). */
  log(): string;
  /** The exit code or signal, once it exited. */
  exited(): string | undefined;
  /** Open file descriptors (/proc/<pid>/fd). */
  fds(): number;
  /** SIGTERM, then SIGKILL after 5 s; resolves once it has exited. */
  stop(): Promise<void>;
}

const LOG_LIMIT = 64 * 1024;

/** Starts the proxy with `args` (plus a loopback --web.listen-address on port 0 unless given) and waits for its listeners. */
export async function spawnProxy(args: readonly string[], opts: { clientListener?: boolean } = {}): Promise<ProxyProcess> {
  const argv = [
    PROXY_MAIN,
    ...(args.some((a) => a.startsWith('--web.listen-address')) ? [] : ['--web.listen-address=127.0.0.1:0']),
    ...(opts.clientListener ? ['--web.client-listen-address=127.0.0.1:0'] : []),
    ...args,
  ];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  let exit: string | undefined;
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    log = (log + s).slice(-LOG_LIMIT);
  });
  const exitedP = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exit = signal ?? String(code);
      resolve();
    });
  });
  const want = opts.clientListener ? 2 : 1;
  const ports = await waitForListeners(child, () => log, want, () => exit);
  const pid = child.pid!;
  return {
    pid,
    port: ports.scraper ?? ports.all!,
    clientPort: ports.client ?? ports.all!,
    log: () => log,
    exited: () => exit,
    fds: () => readdirSync(`/proc/${pid}/fd`).length,
    stop: async () => {
      if (exit !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exitedP;
      clearTimeout(timer);
    },
  };
}

async function waitForListeners(
  child: ChildProcess,
  log: () => string,
  want: number,
  exit: () => string | undefined,
): Promise<Record<string, number>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const found: Record<string, number> = {};
    for (const m of log().matchAll(/msg=Listening address=\S*:(\d+) role=(\w+)/g)) found[m[2]!] = Number(m[1]);
    if (Object.keys(found).length >= want) return found;
    if (exit() !== undefined) throw new Error(`the proxy exited (${exit()}) before listening:\n${log()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`expected the proxy to log ${want} listener(s) within 15 s, got:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The descriptors `pid` holds, for a failure message: each with what it
 * points at, its TCP socket's line from `ss` when there is one, and a note for
 * a unix socket or one ss does not list: a TCP socket in state CLOSE, reset by
 * its peer and not yet closed by the process (the kernel unhashes it, so
 * neither ss nor /proc/net/tcp shows it).
 */
export function describeDescriptors(pid: number): string {
  const ss = execFileSync('ss', ['-tanpe'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
    .split('\n')
    .filter((l) => l.includes(`pid=${pid},`));
  const byInode = new Map<string, string>();
  for (const l of ss) {
    const ino = /\bino:(\d+)/.exec(l)?.[1];
    if (ino) byInode.set(ino, l.replace(/\s+/g, ' ').trim());
  }
  // The last column of /proc/net/unix is the inode.
  const unix = new Set(readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1).map((l) => l.trim().split(/\s+/)[6]));
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch (err) {
    return `cannot list /proc/${pid}/fd: ${(err as Error).message}`;
  }
  return fds
    .sort((a, b) => Number(a) - Number(b))
    .map((fd) => {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return `${fd}: closed while listing`;
      }
      const ino = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (!ino) return `${fd}: ${target}`;
      if (unix.has(ino)) return `${fd}: ${target} (unix)`;
      return `${fd}: ${target} ${byInode.get(ino) ?? '(not in ss: a TCP socket in state CLOSE, reset by its peer and still open, or UDP)'}`;
    })
    .join('\n');
}
