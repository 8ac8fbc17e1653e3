import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * V8's `gc()`. Without options it is a full, synchronous mark-compact. With
 * options, `async` posts the collection as a task. In Node 20's V8
 * `{ type: 'major', execution: 'sync' }` left 3 MB of dead objects in the old
 * generation where `gc()` without options freed them (measured), so a full
 * collection is asked for without options.
 */
export type GcFn = (opts?: { type: 'minor' | 'major'; execution: 'sync' | 'async' }) => void;

let gcFn: GcFn | null | undefined;

/**
 * V8's gc(), exposed once per process without `--expose-gc` on the command
 * line (the flag is set at run time and the function taken from a fresh
 * context, so it never appears on `globalThis`); null where the runtime
 * refuses.
 */
export function v8Gc(): GcFn | null {
  if (gcFn !== undefined) return gcFn;
  try {
    const existing = (globalThis as { gc?: GcFn }).gc;
    if (existing) return (gcFn = existing);
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc') as GcFn;
  } catch {
    gcFn = null;
  }
  return gcFn;
}
