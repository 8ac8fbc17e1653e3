import type { Dispatcher } from 'undici';
import { undici } from './undici-parts.js';
import { CompositeDispatcher } from './owning-dispatcher.js';
import type { TlsMaterial } from '../config.js';
import { envProxies, redactProxy, type NoProxy } from './env-proxy.js';
import { IDLE_CONN_TIMEOUT_MS } from '../exporter-http/plain-conn.js';

export interface DispatcherChoice {
  readonly dispatcher: Dispatcher;
  /** The forward proxies used, when HTTP(S)_PROXY is set. */
  readonly proxies: { readonly http?: string; readonly https?: string; readonly noProxy?: string } | undefined;
}

export interface CreateDispatcherOptions {
  /**
   * Skip verification of the server certificates (--insecure-skip-verify,
   * targets only; never set for the proxy). A forward proxy reached over
   * https is still verified. Default false.
   */
  readonly insecureSkipVerify?: boolean;
}

export { IDLE_CONN_TIMEOUT_MS };

/**
 * A dispatcher for the proxy or for the targets, as upstream's http.Client:
 * the TLS material applies to every TLS connection it makes, and HTTP_PROXY,
 * HTTPS_PROXY and NO_PROXY route requests as Go's ProxyFromEnvironment does
 * (see env-proxy.ts) — plain http in absolute form, https through CONNECT.
 * Throws CONFIG_INVALID on a proxy variable that is not a proxy URL.
 */
export function createDispatcher(
  material: TlsMaterial,
  env: NodeJS.ProcessEnv = process.env,
  opts: CreateDispatcherOptions = {},
): DispatcherChoice {
  const tls = { ...material, ...(opts.insecureSkipVerify === true && { rejectUnauthorized: false }) };
  const proxies = envProxies(env);
  const direct = new undici.Agent({ connect: { ...tls }, keepAliveTimeout: IDLE_CONN_TIMEOUT_MS });
  if (proxies.http === undefined && proxies.https === undefined) return { dispatcher: direct, proxies: undefined };
  const via = (url: URL | undefined): Dispatcher | undefined =>
    url && new undici.ProxyAgent({ uri: url.href, connect: { ...tls }, requestTls: { ...tls }, proxyTunnel: false, keepAliveTimeout: IDLE_CONN_TIMEOUT_MS });
  return {
    dispatcher: new EnvProxyDispatcher(direct, via(proxies.http), via(proxies.https), proxies.noProxy),
    proxies: {
      ...(proxies.http && { http: redactProxy(proxies.http.href) }),
      ...(proxies.https && { https: redactProxy(proxies.https.href) }),
      noProxy: proxies.noProxyText,
    },
  };
}

/** Origins whose route is remembered; past this the memory starts again (targets are few). */
const MAX_ROUTES = 256;
const DEFAULT_PORTS: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443' };

/** Sends each request direct or through the forward proxy for its scheme, decided once per origin. */
class EnvProxyDispatcher extends CompositeDispatcher {
  readonly #direct: Dispatcher;
  readonly #http: Dispatcher | undefined;
  readonly #https: Dispatcher | undefined;
  readonly #noProxy: NoProxy;
  readonly #routes = new Map<string, Dispatcher>();

  constructor(direct: Dispatcher, http: Dispatcher | undefined, https: Dispatcher | undefined, noProxy: NoProxy) {
    super();
    this.#direct = direct;
    this.#http = http;
    this.#https = https;
    this.#noProxy = noProxy;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const origin = String(options.origin);
    let route = this.#routes.get(origin);
    if (route === undefined) {
      route = this.#route(new URL(origin));
      if (this.#routes.size >= MAX_ROUTES) this.#routes.clear();
      this.#routes.set(origin, route);
    }
    return route.dispatch(options, handler);
  }

  #route(url: URL): Dispatcher {
    const proxy = url.protocol === 'https:' ? this.#https : url.protocol === 'http:' ? this.#http : undefined;
    if (proxy === undefined || this.#noProxy.bypass(url.hostname, url.port || (DEFAULT_PORTS[url.protocol] ?? ''))) return this.#direct;
    return proxy;
  }

  protected override closing(): readonly Dispatcher[] {
    return [this.#direct, this.#http, this.#https].filter((d): d is Dispatcher => d !== undefined);
  }

  protected override destroying(): readonly Dispatcher[] {
    return this.closing();
  }
}
