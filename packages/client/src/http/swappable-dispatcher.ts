import type { Dispatcher } from 'undici';
import { CompositeDispatcher } from './owning-dispatcher.js';

/**
 * How long a replaced dispatcher may take to finish its in-flight requests
 * before it is destroyed. Held polls may last minutes (until a scrape comes
 * or the poll headers timeout), so the wait is bounded; a poll cut short is
 * retried by the poller on the new dispatcher.
 */
export const DEFAULT_RETIRE_GRACE_MS = 30_000;

type Handler = Dispatcher.DispatchHandler;
type Callbacks = Record<string, ((...args: unknown[]) => unknown) | undefined>;

/** A handler passed on to `h`, with `end` to call before its terminal callback. */
abstract class TrackedBase {
  protected readonly h: Callbacks;
  protected readonly end: () => void;
  constructor(handler: Handler, end: () => void) {
    this.h = handler as unknown as Callbacks;
    this.end = end;
  }
}

/**
 * Passes every callback of undici's legacy handler API (what `request()`
 * dispatches) to `handler`, `this` included, and calls `end` before the
 * terminal ones (onComplete, onError, onUpgrade): exactly one of them ends
 * every dispatch. A class, not a Proxy: undici reads a handler's callbacks several
 * times per request (onData once per body chunk), and a Proxy's trap on every
 * read showed in the client's per-scrape profile.
 */
class TrackedLegacy extends TrackedBase {
  onConnect(abort: unknown, context: unknown): unknown {
    return this.h['onConnect']?.(abort, context);
  }
  onResponseStarted(): unknown {
    return this.h['onResponseStarted']?.();
  }
  onHeaders(status: unknown, rawHeaders: unknown, resume: unknown, statusText: unknown): unknown {
    return this.h['onHeaders']?.(status, rawHeaders, resume, statusText);
  }
  onData(chunk: unknown): unknown {
    return this.h['onData']?.(chunk);
  }
  onBodySent(chunk: unknown): unknown {
    return this.h['onBodySent']?.(chunk);
  }
  onRequestSent(): unknown {
    return this.h['onRequestSent']?.();
  }
  onComplete(trailers: unknown): unknown {
    this.end();
    return this.h['onComplete']?.(trailers);
  }
  onError(err: unknown): unknown {
    this.end();
    return this.h['onError']?.(err);
  }
  onUpgrade(status: unknown, rawHeaders: unknown, socket: unknown): unknown {
    this.end();
    return this.h['onUpgrade']?.(status, rawHeaders, socket);
  }
}

/** The same for undici's current handler API (a handler with onRequestStart). */
class Tracked extends TrackedBase {
  onRequestStart(controller: unknown, context: unknown): unknown {
    return this.h['onRequestStart']?.(controller, context);
  }
  onResponseStart(controller: unknown, status: unknown, headers: unknown, statusText: unknown): unknown {
    return this.h['onResponseStart']?.(controller, status, headers, statusText);
  }
  onResponseData(controller: unknown, chunk: unknown): unknown {
    return this.h['onResponseData']?.(controller, chunk);
  }
  onResponseEnd(controller: unknown, trailers: unknown): unknown {
    this.end();
    return this.h['onResponseEnd']?.(controller, trailers);
  }
  onResponseError(controller: unknown, err: unknown): unknown {
    this.end();
    return this.h['onResponseError']?.(controller, err);
  }
  onRequestUpgrade(controller: unknown, status: unknown, headers: unknown, socket: unknown): unknown {
    this.end();
    return this.h['onRequestUpgrade']?.(controller, status, headers, socket);
  }
}

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
export class SwappableDispatcher extends CompositeDispatcher {
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
    const tracked = (typeof handler.onRequestStart === 'function' ? new Tracked(handler, end) : new TrackedLegacy(handler, end)) as unknown as Handler;
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

  /** close() closes the current dispatcher gracefully; retiring ones keep their bounded wait. */
  protected override closing(): readonly Dispatcher[] {
    return [this.#current];
  }

  protected override destroying(): readonly Dispatcher[] {
    return [this.#current, ...this.#retiring];
  }
}
