import { Gauge, type Registry } from 'prom-client';
import { messageOf, type Logger } from '@pushprox/shared';
import type { ReloadState } from '../status/status-info.js';

/**
 * One file that can be re-read without a restart. `load` reads and checks it
 * (and throws, naming the flag and file, when it is bad or would need a
 * restart); `apply` puts what `load` returned in use and must not throw.
 */
export interface ReloadStep<T = unknown> {
  readonly what: string;
  load(): T;
  apply(loaded: T): void;
}

/**
 * Re-reads the proxy's files on SIGHUP or POST /-/reload. All or nothing:
 * every step loads first; only if all succeeded does any apply, so a bad file
 * keeps every old setting. Reloads run one at a time, in order.
 */
export class ConfigReloader {
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #steps: ReloadStep[] = [];
  #state: ReloadState;
  #queue: Promise<void> = Promise.resolve();

  constructor(opts: { readonly logger: Logger; readonly now?: () => number }) {
    this.#logger = opts.logger;
    this.#now = opts.now ?? Date.now;
    // The start-up load counts as the first successful one, as in Prometheus.
    this.#state = { lastSuccess: true, lastSuccessAt: this.#now(), lastError: '' };
  }

  add<T>(step: ReloadStep<T>): void {
    this.#steps.push(step as ReloadStep);
  }

  state(): ReloadState {
    return this.#state;
  }

  /** Prometheus' names, under this program's prefix. */
  register(registry: Registry): void {
    const state = () => this.#state;
    new Gauge({
      name: 'pushprox_proxy_config_last_reload_successful',
      help: 'Whether the last configuration reload attempt was successful.',
      registers: [registry],
      collect() {
        this.set(state().lastSuccess ? 1 : 0);
      },
    });
    new Gauge({
      name: 'pushprox_proxy_config_last_reload_success_timestamp_seconds',
      help: 'Timestamp of the last successful configuration reload.',
      registers: [registry],
      collect() {
        this.set(state().lastSuccessAt / 1000);
      },
    });
  }

  /** Resolves once every file was reloaded; rejects with why none was. */
  reload(): Promise<void> {
    const run = this.#queue.then(() => this.#run());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #run(): void {
    const loaded: unknown[] = [];
    for (const step of this.#steps) {
      try {
        loaded.push(step.load());
      } catch (err) {
        const error = `${step.what}: ${messageOf(err)}`;
        this.#state = { ...this.#state, lastSuccess: false, lastError: error };
        this.#logger.error('Error reloading config; the previous settings stay in use', { err: error });
        throw new Error(error);
      }
    }
    this.#steps.forEach((step, i) => step.apply(loaded[i]));
    this.#state = { lastSuccess: true, lastSuccessAt: this.#now(), lastError: '' };
    this.#logger.info('Completed loading of configuration files', { files: this.#steps.map((s) => s.what).join(', ') || 'none' });
  }
}

/** SIGHUP reloads, as Prometheus and its exporters do; a failure is logged by the reloader. */
export function reloadOnSighup(reloader: ConfigReloader): () => void {
  const onHup = (): void => void reloader.reload().catch(() => undefined);
  process.on('SIGHUP', onHup);
  return () => process.off('SIGHUP', onHup);
}
