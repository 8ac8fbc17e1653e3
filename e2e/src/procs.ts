import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const PROXY_BIN = path.join(ROOT, 'packages', 'proxy', 'bin', 'pushprox-proxy.js');
export const CLIENT_BIN = path.join(ROOT, 'packages', 'client', 'bin', 'pushprox-client.js');

export interface ProcOptions {
  /**
   * A program to run `cmd` under (e.g. strace and its options). The wrapper
   * gets a process group of its own, so nothing of it can outlive the test,
   * and signals other than SIGKILL go to the wrapped program itself (strace
   * would detach on SIGTERM).
   */
  readonly wrapper?: readonly string[];
  readonly cwd?: string;
  /** Added to this process's environment (e.g. HTTP_PROXY). */
  readonly env?: Readonly<Record<string, string>>;
}

/** A child process this test started; only ever signalled by its own PID (or, wrapped, its own group). */
export class Proc {
  readonly child: ChildProcess;
  readonly name: string;
  #output = '';
  readonly #wrapped: boolean;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(name: string, cmd: string, args: readonly string[], opts: ProcOptions = {}) {
    this.name = name;
    const wrapper = opts.wrapper ?? [];
    this.#wrapped = wrapper.length > 0;
    const argv = [...wrapper, cmd, ...args];
    this.child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: this.#wrapped,
      ...(opts.cwd && { cwd: opts.cwd }),
      ...(opts.env && { env: { ...process.env, ...opts.env } }),
    });
    this.child.stdout!.on('data', (c: Buffer) => (this.#output += c.toString()));
    this.child.stderr!.on('data', (c: Buffer) => (this.#output += c.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    LIVE.add(this);
    void this.exited.then(() => LIVE.delete(this));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get output(): string {
    return this.#output;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resident set size in bytes, from /proc. */
  rss(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status);
    if (!kb) throw new Error(`no VmRSS for ${this.name} (pid ${this.pid})`);
    return Number(kb[1]) * 1024;
  }

  /** Waits until the output matches `re`; rejects on exit or after `timeoutMs`. */
  async waitFor(re: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.#output);
      if (m) return m;
      if (!this.running) throw new Error(`${this.name} exited before printing ${re}:\n${this.#output}`);
      if (Date.now() > end) throw new Error(`${this.name} did not print ${re} within ${timeoutMs} ms:\n${this.#output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The wrapped program's PID: the wrapper's child. */
  #programPid(): number | undefined {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        // pid (comm) state ppid ...; comm may contain spaces and parentheses.
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === this.child.pid) return Number(entry);
      } catch {
        // exited meanwhile
      }
    }
    return undefined;
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      if (!this.#wrapped) this.child.kill(sig);
      else if (sig === 'SIGKILL') process.kill(-this.child.pid!, 'SIGKILL');
      else process.kill(this.#programPid() ?? -this.child.pid!, sig);
    } catch {
      // already gone
    }
  }

  /** Sends `signal` and waits for exit; SIGKILL after `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000) {
    if (!this.running) return this.exited;
    this.signal(signal);
    const timer = setTimeout(() => this.signal('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

const LIVE = new Set<Proc>();

/** Kills every process still running; for after() hooks, so a failing test leaves nothing behind. */
export async function killAll(): Promise<void> {
  await Promise.all([...LIVE].map((p) => p.stop('SIGKILL', 5000)));
}

process.once('exit', () => {
  for (const p of LIVE) p.signal('SIGKILL');
});

/** The signals an operator stops a long run with. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * For programs that start processes (the bench entry points): SIGINT, SIGTERM
 * and SIGHUP kill every process still running, then end this one with 128 +
 * the signal's number. Without a handler those signals end a Node program
 * without its 'exit' handlers, and its children run on. `beforeExit` runs
 * first, once (e.g. to save the rows measured so far); its errors are printed.
 */
export function stopChildrenOnSignals(beforeExit?: () => void): void {
  let stopping = false;
  for (const sig of STOP_SIGNALS) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      try {
        beforeExit?.();
      } catch (err: unknown) {
        console.error(err);
      }
      void killAll().finally(() => process.exit(128 + osConstants.signals[sig]));
    });
  }
}

export type ProxyProc = Proc & { readonly port: number; readonly url: string };

/** `port` and `url` are on the loopback address the proxy listens on (127.0.0.1 unless --web.listen-address says another). */
export async function startProxyProc(args: readonly string[] = []): Promise<ProxyProc> {
  const listen = args.some((a) => a.startsWith('--web.listen-address')) ? [] : ['--web.listen-address=127.0.0.1:0'];
  const p = new Proc('pushprox-proxy', process.execPath, [PROXY_BIN, ...listen, ...args]);
  const m = await p.waitFor(/msg=Listening address=(127\.\d+\.\d+\.\d+):(\d+)/);
  const port = Number(m[2]);
  return Object.assign(p, { port, url: `http://${m[1]}:${port}` });
}

export function startClientProc(proxyUrl: string, fqdn: string, args: readonly string[] = [], opts: ProcOptions = {}): Proc {
  return new Proc(
    `pushprox-client ${fqdn}`,
    process.execPath,
    [CLIENT_BIN, `--proxy-url=${proxyUrl}`, `--fqdn=${fqdn}`, '--metrics-addr=', ...args],
    opts,
  );
}
