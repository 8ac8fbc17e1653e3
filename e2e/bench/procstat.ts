import { readFileSync, readdirSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

/** A `<field>: <n> kB` line of /proc/<pid>/status, in bytes. */
function statusBytes(pid: number, field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** RSS in bytes of a process, from /proc. */
export function rssOf(pid: number): number {
  return statusBytes(pid, 'VmRSS');
}

/**
 * Resident memory of a process that no other process shares (RssAnon): its
 * heaps and stacks. The rest of its RSS is mostly the node binary's pages,
 * shared by every Node process on the host and held in the page cache.
 */
export function privateRssOf(pid: number): number {
  return statusBytes(pid, 'RssAnon');
}

/**
 * Where a process's private (anonymous) resident memory is, from
 * /proc/<pid>/smaps, in bytes:
 * - `brk`: glibc's main arena (malloc from the main thread: Node's C++
 *   objects, Buffer and ArrayBuffer contents);
 * - `arena`: glibc's other arenas (malloc from other threads: V8's compiler
 *   and GC helpers, libuv's pool);
 * - `v8`: V8's heap pages;
 * - `code`: executable anonymous mappings (V8's compiled code);
 * - `other`: the rest (large malloc chunks, thread stacks).
 */
export interface AnonSplit {
  readonly brk: number;
  readonly arena: number;
  readonly v8: number;
  readonly code: number;
  readonly other: number;
}

/**
 * glibc gives each non-main arena a heap of HEAP_MAX_SIZE (64 MiB on 64-bit)
 * aligned to its size: a read-write start and, until it grows, a PROT_NONE
 * rest up to the next 64 MiB boundary.
 */
const ARENA_HEAP = 64 * 1024 * 1024;
/**
 * V8 maps its heap at random hints below 2^46 on x64 (its
 * kAllocationRandomAddressMax); the kernel's own mmap area, where glibc and
 * libuv map, is at the top of the 47-bit user space.
 */
const V8_HINT_LIMIT = 2 ** 46;

interface Mapping {
  readonly start: number;
  readonly end: number;
  readonly perms: string;
  readonly kind: 'brk' | 'file' | 'anon';
  anonymous: number;
}

function mappingsOf(pid: number): Mapping[] {
  const maps: Mapping[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (head) {
      const [, start = '', end = '', perms = '', inode = '', name = ''] = head;
      const kind = name === '[heap]' ? 'brk' : inode !== '0' ? 'file' : 'anon';
      maps.push({ start: parseInt(start, 16), end: parseInt(end, 16), perms, kind, anonymous: 0 });
      continue;
    }
    const anon = /^Anonymous:\s+(\d+) kB/.exec(line);
    const last = maps.at(-1);
    if (anon && last) last.anonymous = Number(anon[1]) * 1024;
  }
  return maps;
}

export function anonSplitOf(pid: number): AnonSplit {
  const split = { brk: 0, arena: 0, v8: 0, code: 0, other: 0 };
  const maps = mappingsOf(pid);
  maps.forEach((m, i) => {
    if (m.anonymous === 0 || m.kind === 'file') return;
    const next = maps[i + 1];
    const arena =
      m.start % ARENA_HEAP === 0 &&
      (m.end - m.start === ARENA_HEAP || (next !== undefined && next.start === m.end && next.perms.startsWith('---') && next.end % ARENA_HEAP === 0));
    const place = m.kind === 'brk' ? 'brk' : m.perms[2] === 'x' ? 'code' : arena ? 'arena' : m.start < V8_HINT_LIMIT ? 'v8' : 'other';
    split[place] += m.anonymous;
  });
  return split;
}

/** User and system (kernel) CPU seconds. */
export interface CpuSplit {
  readonly user: number;
  readonly system: number;
}

/** The live children of a process (every thread's), from /proc; none once it has ended. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) if (c) out.push(Number(c));
    }
  } catch {
    // ended meanwhile
  }
  return out;
}

/**
 * What a process and its descendants have used, from /proc/<pid>/stat: its
 * own time, its reaped children's (cutime, cstime) and its live children's,
 * so a program that forks per connection (socat) is counted whole.
 */
export function cpuSplitOf(pid: number): CpuSplit {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "pid (comm) ": state is [0], utime [11], stime [12], cutime [13], cstime [14].
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  let user = (Number(fields[11]) + Number(fields[13])) / TICKS;
  let system = (Number(fields[12]) + Number(fields[14])) / TICKS;
  for (const child of childrenOf(pid)) {
    try {
      const c = cpuSplitOf(child);
      user += c.user;
      system += c.system;
    } catch {
      // ended meanwhile; its time is in our cutime/cstime once reaped
    }
  }
  return { user, system };
}

/** Summed user and system CPU seconds of several processes, one read of each. */
export function cpuSplitOfAll(procs: ReadonlyArray<{ readonly pid: number }>): CpuSplit {
  return procs.reduce((n, p) => {
    const c = cpuSplitOf(p.pid);
    return { user: n.user + c.user, system: n.system + c.system };
  }, { user: 0, system: 0 });
}

export const cpuTotal = (c: CpuSplit): number => c.user + c.system;

/** User plus system CPU seconds a process has used. */
export function cpuSecondsOf(pid: number): number {
  return cpuTotal(cpuSplitOf(pid));
}

/** Summed CPU seconds of several processes (see cpuSecondsOf). */
export function cpuSecondsOfAll(procs: ReadonlyArray<{ readonly pid: number }>): number {
  return cpuTotal(cpuSplitOfAll(procs));
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

/**
 * Samples RSS of some processes every `everyMs` and keeps every sample, for
 * the median level over a window: a single sample of a Node program lands
 * anywhere on its GC sawtooth (±15% under load).
 */
export class RssWindow {
  readonly #pids: Record<string, number>;
  readonly #samples: Record<string, number[]> = {};
  readonly #timer: NodeJS.Timeout;

  constructor(pids: Record<string, number>, everyMs = 100) {
    this.#pids = pids;
    this.#timer = setInterval(() => this.#sample(), everyMs);
    this.#sample();
  }

  #sample(): void {
    for (const [name, pid] of Object.entries(this.#pids)) {
      try {
        (this.#samples[name] ??= []).push(rssOf(pid));
      } catch {
        /* the process ended */
      }
    }
  }

  /** Stops sampling; the median RSS in bytes of each process over the window. */
  stop(): Record<string, number> {
    clearInterval(this.#timer);
    this.#sample();
    return Object.fromEntries(
      Object.entries(this.#samples).map(([name, xs]) => {
        const s = [...xs].sort((a, b) => a - b);
        return [name, s[Math.floor(s.length / 2)]!];
      }),
    );
  }
}

/**
 * CPU time in ms of a process's live threads, from /proc/<pid>/task/<tid>/schedstat
 * (nanoseconds, where /proc/<pid>/stat counts 10 ms ticks): fine enough for the
 * CPU of one scrape. Threads that ended meanwhile are not counted.
 */
export function cpuMsPreciseOf(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // ended meanwhile
    }
  }
  return ns / 1e6;
}
