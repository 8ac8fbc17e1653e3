import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The leash (watchdog-main.ts): told every child's PID as it starts and
 * ends, it kills the ones left if this process dies without cleaning up.
 */
const leash = spawn(process.execPath, [path.join(path.dirname(fileURLToPath(import.meta.url)), 'watchdog-main.js')], {
  stdio: ['pipe', 'ignore', 'inherit'],
});
leash.stdin!.on('error', () => undefined);
leash.unref();
(leash.stdin as unknown as { unref?: () => void }).unref?.();

/** Ends the leash once every child has stopped; it then exits by itself. */
export function releaseLeash(): void {
  leash.stdin!.end();
}

/** Lines of stderr kept per child: enough for a stack trace, bounded for a long soak. */
const TAIL_LINES = 40;
/** Restarts per child: a process that keeps dying is reported, not restarted forever. */
const MAX_RESTARTS = 20;
const RESTART_DELAY_MS = 500;

/** One unexpected exit of a child, with the end of its stderr. */
export interface ExitRecord {
  readonly name: string;
  readonly pid: number;
  readonly code: number | null;
  readonly signal: string | null;
  readonly atS: number;
  readonly stderrTail: readonly string[];
}

/** Keeps the last `max` lines of a stream. */
class LineTail {
  readonly #max: number;
  readonly #lines: string[] = [];
  #partial = '';
  constructor(max: number) {
    this.#max = max;
  }
  push(chunk: Buffer): void {
    const parts = (this.#partial + chunk.toString('utf8')).split('\n');
    this.#partial = (parts.pop() ?? '').slice(-4096);
    for (const l of parts) {
      this.#lines.push(l.length > 2000 ? `${l.slice(0, 2000)}…` : l);
      if (this.#lines.length > this.#max) this.#lines.shift();
    }
  }
  lines(): string[] {
    return this.#partial ? [...this.#lines, this.#partial] : [...this.#lines];
  }
}

/**
 * A program the soak started and keeps running: an exit while the soak runs
 * is recorded (with its stderr tail) and the same argv is started again, so
 * the soak goes on. Only ever signalled by its own PID.
 */
export class SoakChild {
  readonly name: string;
  readonly #argv: readonly string[];
  readonly #onExit: (r: ExitRecord) => void;
  readonly #t0: number;
  #child!: ChildProcess;
  #stderr = new LineTail(TAIL_LINES);
  #stdout = new LineTail(TAIL_LINES);
  #stopping = false;
  #restarts = 0;
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(name: string, argv: readonly string[], onExit: (r: ExitRecord) => void, t0: number) {
    this.name = name;
    this.#argv = argv;
    this.#onExit = onExit;
    this.#t0 = t0;
    this.#start();
  }

  #start(): void {
    // Its own process group: a Ctrl-C at the terminal reaches the runner only, which then stops the children itself.
    const child = spawn(this.#argv[0]!, this.#argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.#child = child;
    if (child.pid !== undefined) leash.stdin!.write(`started ${child.pid}\n`);
    this.#stderr = new LineTail(TAIL_LINES);
    this.#stdout = new LineTail(TAIL_LINES);
    const err = this.#stderr;
    const out = this.#stdout;
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.on('error', (e) => err.push(Buffer.from(`[soak] spawn error: ${e.message}\n`)));
    child.once('exit', (code, signal) => {
      if (child.pid !== undefined && !leash.stdin!.destroyed) leash.stdin!.write(`gone ${child.pid}\n`);
      if (this.#stopping) return;
      // Let the pipes drain so the tail holds the last words.
      setTimeout(() => {
        this.#onExit({
          name: this.name,
          pid: child.pid ?? -1,
          code,
          signal,
          atS: Math.round((Date.now() - this.#t0) / 100) / 10,
          stderrTail: [...err.lines(), ...out.lines().map((l) => `[stdout] ${l}`)].slice(-TAIL_LINES),
        });
        if (this.#stopping || this.#restarts >= MAX_RESTARTS) return;
        this.#restarts++;
        this.#restartTimer = setTimeout(() => this.#start(), RESTART_DELAY_MS);
      }, 100);
    });
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** The current process's stdout and stderr tails (its output since its last start). */
  output(): string {
    return [...this.#stdout.lines(), ...this.#stderr.lines()].join('\n');
  }

  stderrTail(): string[] {
    return this.#stderr.lines();
  }

  /** Open descriptors, from /proc/<pid>/fd; NaN when the process is gone. */
  fds(): number {
    try {
      return readdirSync(`/proc/${this.pid}/fd`).length;
    } catch {
      return NaN;
    }
  }

  /** Resident set size in bytes, from /proc/<pid>/status; NaN when the process is gone. */
  rss(): number {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : NaN;
    } catch {
      return NaN;
    }
  }

  /** SIGTERM by PID, SIGKILL after `timeoutMs`; no restart afterwards. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  /** Synchronous last resort for process 'exit': SIGKILL by PID. */
  killNow(): void {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    if (this.running) this.#child.kill('SIGKILL');
  }
}
