import { readFileSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

/** RSS in bytes of a process, from /proc. */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** User plus system CPU seconds a process has used, from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** Samples RSS of some processes every `everyMs` and keeps the peak of each. */
export class PeakSampler {
  readonly #pids: Record<string, number>;
  readonly peak: Record<string, number> = {};
  readonly #timer: NodeJS.Timeout;

  constructor(pids: Record<string, number>, everyMs = 20) {
    this.#pids = pids;
    this.sample();
    this.#timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): void {
    for (const [name, pid] of Object.entries(this.#pids)) {
      try {
        this.peak[name] = Math.max(this.peak[name] ?? 0, rssOf(pid));
      } catch {
        /* the process ended */
      }
    }
  }

  stop(): Record<string, number> {
    clearInterval(this.#timer);
    this.sample();
    return this.peak;
  }
}
