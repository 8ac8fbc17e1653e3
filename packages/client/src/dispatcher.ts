import type { Dispatcher } from 'undici';
import { undici } from './undici.js';
import type { TlsMaterial } from './config.js';

/**
 * Go never proxies requests to localhost or loopback addresses
 * (http.ProxyFromEnvironment); these NO_PROXY entries give the same result for
 * the usual spellings.
 */
export const LOOPBACK_NO_PROXY = 'localhost,127.0.0.1,[::1]';

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

/**
 * A dispatcher for the proxy or for the targets, as upstream's http.Client:
 * the TLS material applies to every TLS connection it makes, and like Go's
 * ProxyFromEnvironment, HTTP_PROXY/HTTPS_PROXY/NO_PROXY (either case) route
 * requests through a forward proxy — plain http in absolute-form, https
 * through CONNECT.
 */
export function createDispatcher(
  material: TlsMaterial,
  env: NodeJS.ProcessEnv = process.env,
  opts: CreateDispatcherOptions = {},
): DispatcherChoice {
  const tls = { ...material, ...(opts.insecureSkipVerify === true && { rejectUnauthorized: false }) };
  const http = env['http_proxy'] || env['HTTP_PROXY'] || undefined;
  const https = env['https_proxy'] || env['HTTPS_PROXY'] || undefined;
  if (http === undefined && https === undefined) return { dispatcher: new undici.Agent({ connect: { ...tls } }), proxies: undefined };
  const userNoProxy = env['no_proxy'] ?? env['NO_PROXY'] ?? '';
  const noProxy = userNoProxy.trim() === '*' ? '*' : [userNoProxy, LOOPBACK_NO_PROXY].filter((s) => s.trim() !== '').join(',');
  return {
    dispatcher: new undici.EnvHttpProxyAgent({
      // Empty strings (not undefined) so undici does not fall back to process.env.
      httpProxy: http ?? '',
      httpsProxy: https ?? http ?? '',
      noProxy,
      connect: { ...tls },
      requestTls: { ...tls },
      proxyTunnel: false,
    }),
    proxies: { ...(http && { http: redact(http) }), ...((https ?? http) && { https: redact((https ?? http)!) }), noProxy },
  };
}

/** Proxy URL for logs, without credentials. */
function redact(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//***@');
}
