import { Dispatcher } from 'undici';

/**
 * How long a replaced dispatcher may take to finish its in-flight requests
 * before it is destroyed. Held polls may last minutes (until a scrape comes
 * or the poll headers timeout), so the wait is bounded; a poll cut short is
 * retried by the poller on the new dispatcher.
 */
export const DEFAULT_RETIRE_GRACE_MS = 30_000;

/**
 * Handler callbacks after which undici calls nothing else on a request
 * (legacy and current handler API): exactly one of them ends every dispatch.
 */
const TERMINAL_CALLBACKS: ReadonlySet<PropertyKey> = new Set([
  'onComplete',
  'onError',
  'onUpgrade',
  'onResponseEnd',
  'onResponseError',
  'onRequestUpgrade',
]);

type Callback = (...args: unknown[]) => unknown;

/** In-flight requests of one dispatcher, and whoever waits for them to reach 0. */
class Inflight {
  count = 0;
  #idle: Array<() => void> = [];

  end(): void {
    if (--this.count === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  whenIdle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }
}

/**
 * A dispatcher whose underlying one can be replaced while requests run, for a
 * TLS reload: `request()` (undici's API on the base class) goes through
 * `dispatch()`, which always reaches the current dispatcher. Invariant: every
 * request dispatched after `swap()` uses the new dispatcher; requests already
 * running finish on the old one for at most `retireGraceMs`, then the old one
 * is destroyed — never leaked.
 *
 * In-flight requests are counted here, not left to the old dispatcher's
 * `close()`: undici's Agent forgets its pools on close(), so a destroy() after
 * it can no longer cut the requests close() waits for.
 */
export class SwappableDispatcher extends Dispatcher {
  readonly #retireGraceMs: number;
  readonly #retiring = new Set<Dispatcher>();
  #current: Dispatcher;
  #inflight = new Inflight();

  /** `retireGraceMs`: see DEFAULT_RETIRE_GRACE_MS (the default). */
  constructor(initial: Dispatcher, retireGraceMs = DEFAULT_RETIRE_GRACE_MS) {
    super();
    this.#current = initial;
    this.#retireGraceMs = retireGraceMs;
  }

  /** Dispatchers replaced but not yet destroyed. */
  get retiring(): number {
    return this.#retiring.size;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const inflight = this.#inflight;
    let ended = false;
    const end = (): void => {
      if (!ended) inflight.end();
      ended = true;
    };
    // Every callback runs on the real handler (`this` included); the terminal ones
    // also end the count. Wrappers are made once per callback and request, not per
    // call: onData runs for every chunk of a body.
    const wrappers = new Map<PropertyKey, { readonly fn: Callback; readonly wrapper: Callback }>();
    const tracked = new Proxy(handler, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop);
        if (typeof value !== 'function') return value;
        const known = wrappers.get(prop);
        if (known?.fn === value) return known.wrapper;
        const fn = value as Callback;
        const wrapper = TERMINAL_CALLBACKS.has(prop)
          ? (...args: unknown[]): unknown => {
              end();
              return fn.apply(target, args);
            }
          : fn.bind(target);
        wrappers.set(prop, { fn, wrapper });
        return wrapper;
      },
    });
    inflight.count++;
    try {
      return this.#current.dispatch(options, tracked);
    } catch (err) {
      end();
      throw err;
    }
  }

  /**
   * Routes new requests to `next` at once; the old dispatcher is destroyed
   * once its requests are done, or after retireGraceMs.
   */
  swap(next: Dispatcher): void {
    const old = this.#current;
    const oldInflight = this.#inflight;
    this.#current = next;
    this.#inflight = new Inflight();
    this.#retiring.add(old);
    void this.#retire(old, oldInflight).finally(() => this.#retiring.delete(old));
  }

  async #retire(old: Dispatcher, inflight: Inflight): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#retireGraceMs);
      // A retiring dispatcher alone must not keep the process alive.
      timer.unref();
    });
    await Promise.race([inflight.whenIdle(), timedOut]);
    clearTimeout(timer);
    // With no request left this only closes idle keep-alive sockets.
    await old.destroy().catch(() => undefined);
  }

  /** Closes the current dispatcher gracefully; retiring ones keep their bounded wait. */
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const p = this.#current.close();
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
    const all = [this.#current, ...this.#retiring];
    const p = Promise.all(all.map((d) => d.destroy(err).catch(() => undefined))).then(() => undefined);
    if (callback === undefined) return p;
    void p.then(callback, callback);
  }
}
