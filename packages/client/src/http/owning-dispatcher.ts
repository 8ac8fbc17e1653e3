import type { Dispatcher } from 'undici';
import { undici } from './undici-parts.js';

/**
 * A dispatcher that passes requests on to others it owns: close() and
 * destroy() reach them, with undici's promise-or-callback signatures.
 * destroy() never rejects (one member's failure does not stop the others).
 */
export abstract class CompositeDispatcher extends undici.Dispatcher {
  /** The dispatchers close() closes gracefully. */
  protected abstract closing(): readonly Dispatcher[];
  /** The dispatchers destroy() destroys. */
  protected abstract destroying(): readonly Dispatcher[];

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const p = Promise.all(this.closing().map((d) => d.close())).then(() => undefined);
    if (callback === undefined) return p;
    void p.then(callback, callback);
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const err = typeof a === 'function' ? null : (a ?? null);
    const callback = typeof a === 'function' ? a : b;
    const p = Promise.all(this.destroying().map((d) => d.destroy(err).catch(() => undefined))).then(() => undefined);
    if (callback === undefined) return p;
    void p.then(callback, callback);
  }
}
