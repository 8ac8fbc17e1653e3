import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { ERROR_CODES, PushProxError } from '../protocol/errors.js';

export interface BcryptPoolOptions {
  /** Comparisons queued or running at once; one more is refused (AUTH_BUSY). Default 8. */
  readonly maxPending?: number;
  /** A comparison not answered within this fails and the worker is replaced. Default 10 s. */
  readonly timeoutMs?: number;
}

export const BCRYPT_MAX_PENDING = 8;
export const BCRYPT_TIMEOUT_MS = 10_000;

/**
 * The source text of bcryptjs' self-contained UMD build (it needs only
 * node:crypto). The worker runs from source text rather than a file path,
 * so a bundle for a single executable only has to provide this text.
 */
function bcryptjsSource(): string {
  return readFileSync(createRequire(import.meta.url).resolve('bcryptjs'), 'utf8');
}

let workerSource: string | undefined;

/** The worker: bcryptjs, then a loop answering { id, ok } for each { id, password (UTF-8 bytes), hash }. */
function workerSourceText(): string {
  workerSource ??= `"use strict";
const { parentPort } = require('node:worker_threads');
const bcrypt = (function () {
  const module = { exports: {} };
  (function (module, exports, define) {
${bcryptjsSource()}
  })(module, module.exports, undefined);
  return module.exports;
})();
parentPort.on('message', (m) => {
  let ok = false;
  try { ok = bcrypt.compareSync(Buffer.from(m.password).toString('utf8'), m.hash); } catch {}
  parentPort.postMessage({ id: m.id, ok });
});
`;
  return workerSource;
}

interface Job {
  readonly resolve: (ok: boolean) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * bcrypt comparisons off the event loop, in one worker thread (a cost-10
 * compare takes tens of ms of CPU, which on the main thread delays every
 * request). Invariant: at most `maxPending` comparisons are queued or
 * running; past that `compare` rejects at once with AUTH_BUSY instead of
 * queueing, so a flood cannot build an unbounded backlog. The worker starts
 * on first use, does not keep the process alive, and is replaced if it dies.
 */
export class BcryptPool {
  readonly #maxPending: number;
  readonly #timeoutMs: number;
  readonly #jobs = new Map<number, Job>();
  #worker: Worker | undefined;
  #nextId = 0;
  #closed = false;

  constructor(opts: BcryptPoolOptions = {}) {
    this.#maxPending = opts.maxPending ?? BCRYPT_MAX_PENDING;
    this.#timeoutMs = opts.timeoutMs ?? BCRYPT_TIMEOUT_MS;
  }

  /** Comparisons queued or running now. */
  get pending(): number {
    return this.#jobs.size;
  }

  /** Whether `password` (raw bytes) matches the bcrypt `hash`; rejects with AUTH_BUSY when the queue is full. */
  compare(password: Uint8Array, hash: string): Promise<boolean> {
    if (this.#closed) return Promise.reject(new PushProxError(ERROR_CODES.SHUTTING_DOWN, 'proxy is shutting down'));
    if (this.#jobs.size >= this.#maxPending) {
      return Promise.reject(
        new PushProxError(ERROR_CODES.AUTH_BUSY, `too many password checks in progress (${this.#maxPending}); retry shortly`),
      );
    }
    const worker = this.#ensureWorker();
    const id = this.#nextId++;
    return new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(new Error(`expected a password check within ${this.#timeoutMs} ms, got none: restarting its worker`));
      }, this.#timeoutMs);
      timer.unref();
      this.#jobs.set(id, { resolve, reject, timer });
      // A copy: a Buffer may view a shared pool, and cloning clones its whole ArrayBuffer.
      worker.postMessage({ id, password: new Uint8Array(password), hash });
    });
  }

  /** Fails pending comparisons and stops the worker. */
  close(): void {
    this.#closed = true;
    this.#fail(new PushProxError(ERROR_CODES.SHUTTING_DOWN, 'proxy is shutting down'));
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    const w = new Worker(workerSourceText(), { eval: true });
    w.unref();
    w.on('message', (m: { id: number; ok: boolean }) => {
      const job = this.#jobs.get(m.id);
      if (!job) return;
      this.#jobs.delete(m.id);
      clearTimeout(job.timer);
      job.resolve(m.ok === true);
    });
    w.on('error', (err) => {
      if (this.#worker === w) this.#fail(new Error(`password check worker failed: ${err.message}`));
    });
    w.on('exit', (code) => {
      if (this.#worker === w) this.#fail(new Error(`password check worker exited with code ${code}`));
    });
    this.#worker = w;
    return w;
  }

  /** Rejects every pending comparison with `err` and drops the worker; the next compare starts a new one. */
  #fail(err: Error): void {
    const w = this.#worker;
    this.#worker = undefined;
    if (w) void w.terminate().catch(() => {});
    const jobs = [...this.#jobs.values()];
    this.#jobs.clear();
    for (const job of jobs) {
      clearTimeout(job.timer);
      job.reject(err);
    }
  }
}
