import type { Dispatcher } from 'undici';
import { createDispatcher, type DispatcherChoice } from './routing-dispatcher.js';
import { DEFAULT_RETIRE_GRACE_MS, SwappableDispatcher } from './swappable-dispatcher.js';
import type { TlsMaterial } from './tls-files.js';
import { PlainHttp } from '../exporter-http/plain-http.js';

export interface ClientDispatchersOptions {
  /** --tls.*: for the proxy (poll and push). */
  readonly proxyTls: TlsMaterial;
  /** --scrape.tls.*: for targets; undefined: targets use proxyTls, as upstream's single client. */
  readonly targetTls: TlsMaterial | undefined;
  /** Skip verification of targets' certificates. Default false. */
  readonly insecureSkipVerify?: boolean;
  /** Where HTTP(S)_PROXY/NO_PROXY are read. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** How long a dispatcher replaced by a TLS reload may finish its requests. Default DEFAULT_RETIRE_GRACE_MS. */
  readonly retireGraceMs?: number;
}

/**
 * The client's two dispatchers: one for the proxy, one for targets. Both
 * honour HTTP(S)_PROXY/NO_PROXY. Invariant: --insecure-skip-verify reaches
 * the target dispatcher only; the proxy's certificate is always verified.
 */
export class ClientDispatchers {
  readonly proxy: SwappableDispatcher;
  readonly target: SwappableDispatcher;
  /** For plain-http scrapes (plain-http.ts); undefined when a forward proxy is set for targets, which then all go through `target`. */
  readonly plainTarget: PlainHttp | undefined;
  /** The forward proxies used, when HTTP(S)_PROXY is set. */
  readonly proxies: DispatcherChoice['proxies'];
  readonly #opts: ClientDispatchersOptions;

  constructor(opts: ClientDispatchersOptions) {
    this.#opts = opts;
    const proxy = createDispatcher(opts.proxyTls, opts.env);
    this.proxies = proxy.proxies;
    this.proxy = new SwappableDispatcher(proxy.dispatcher, opts.retireGraceMs);
    const target = createDispatcher(opts.targetTls ?? opts.proxyTls, opts.env, { insecureSkipVerify: opts.insecureSkipVerify ?? false });
    this.target = new SwappableDispatcher(target.dispatcher, opts.retireGraceMs);
    this.plainTarget = target.proxies === undefined ? new PlainHttp() : undefined;
  }

  /** True when targets share the --tls.* material (no --scrape.tls.* given). */
  get targetsUseProxyTls(): boolean {
    return this.#opts.targetTls === undefined;
  }

  /**
   * Uses new --tls.* material for every new connection to the proxy — and to
   * targets when they share it; requests running now finish on the old one.
   */
  useProxyTls(material: TlsMaterial): void {
    this.proxy.swap(createDispatcher(material, this.#opts.env).dispatcher);
    if (this.targetsUseProxyTls) this.target.swap(this.#targetDispatcher(material));
  }

  async destroy(): Promise<void> {
    this.plainTarget?.close();
    await Promise.all([this.proxy.destroy(), this.target.destroy()]);
  }

  #targetDispatcher(material: TlsMaterial): Dispatcher {
    return createDispatcher(material, this.#opts.env, { insecureSkipVerify: this.#opts.insecureSkipVerify ?? false }).dispatcher;
  }
}
