import { v8Gc } from './gc.js';

/** Default bytes relayed between two scavenges. */
export const DEFAULT_RECLAIM_STEP_BYTES = 4 * 1024 * 1024;

/**
 * Relaying a body allocates one socket buffer per read (external memory) but
 * almost no JS heap, so V8 never runs a GC and dead buffers pile up until its
 * external-memory soft limit (about 64 MB): a 100 MB relay grew the proxy's
 * RSS by ~35 MB although only a few MB were live. Relays report the bytes they
 * pass on; every `stepBytes` a minor GC (a scavenge, well under a
 * millisecond with a near-empty young generation) frees them, bounding the
 * growth to a few MB.
 */
export class BufferReclaimer {
  readonly #stepBytes: number;
  #sinceLast = 0;

  constructor(stepBytes = DEFAULT_RECLAIM_STEP_BYTES) {
    this.#stepBytes = stepBytes;
  }

  account(bytes: number): void {
    this.#sinceLast += bytes;
    if (this.#sinceLast < this.#stepBytes) return;
    this.#sinceLast = 0;
    v8Gc()?.({ type: 'minor', execution: 'sync' });
  }
}
