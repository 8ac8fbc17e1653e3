import { BlockList, isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { ERROR_CODES, PushProxError } from '@pushprox/shared';

/**
 * Forward proxies from the environment, read as upstream's client reads them
 * (Go's http.ProxyFromEnvironment, golang.org/x/net/http/httpproxy):
 *
 * - HTTP_PROXY applies to http:// URLs and HTTPS_PROXY to https:// URLs; an
 *   https URL never falls back to HTTP_PROXY.
 * - Each name is read upper case first, then lower case; an empty value counts
 *   as unset.
 * - A value is a URL or `host[:port]` (http assumed).
 * - localhost and every loopback address (127.0.0.0/8, ::1) always go direct.
 * - NO_PROXY lists IP addresses, CIDR ranges, domain names (matching the name
 *   and its subdomains; `.name` or `*.name`: subdomains only), each with an
 *   optional `:port`, or `*` for everything.
 *
 * Where Go silently ignores a proxy value it cannot parse or later fails each
 * request on an unsupported scheme, this refuses it at start with the reason.
 */
export interface EnvProxies {
  /** For http:// URLs. */
  readonly http: URL | undefined;
  /** For https:// URLs (tunnelled with CONNECT). */
  readonly https: URL | undefined;
  readonly noProxy: NoProxy;
  /** NO_PROXY as given ('' when unset). */
  readonly noProxyText: string;
}

/** Proxy schemes Go's Transport dials; undici dials socks5h as socks5 (the proxy resolves names either way). */
const SCHEMES: Readonly<Record<string, string>> = { 'http:': 'http:', 'https:': 'https:', 'socks5:': 'socks5:', 'socks5h:': 'socks5:' };

/** Go's getEnvAny. */
function envAny(env: NodeJS.ProcessEnv, upper: string): { name: string; value: string } | undefined {
  for (const name of [upper, upper.toLowerCase()]) {
    const value = env[name];
    if (value !== undefined && value !== '') return { name, value };
  }
  return undefined;
}

/** Go's parseProxy, then the scheme check its Transport makes on each request. */
export function parseProxyUrl(name: string, value: string): URL {
  const parse = (s: string): URL | undefined => {
    try {
      return new URL(s);
    } catch {
      return undefined;
    }
  };
  // Go parses the value as is, and if that gives no scheme or host, with http:// before it;
  // the second try is only for values without a scheme (Go's would also take "http://[bad" as host "http").
  const url = parse(value.includes('://') ? value : `http://${value}`);
  if (url === undefined || url.host === '') {
    throw new PushProxError(
      ERROR_CODES.CONFIG_INVALID,
      `${name}: expected a proxy URL such as http://proxy.example:3128 or host:port, got ${JSON.stringify(redactProxy(value))}`,
    );
  }
  const scheme = SCHEMES[url.protocol];
  if (scheme === undefined) {
    throw new PushProxError(
      ERROR_CODES.CONFIG_INVALID,
      `${name}: expected an http, https, socks5 or socks5h proxy URL, got scheme "${url.protocol.slice(0, -1)}" in ${JSON.stringify(redactProxy(value))}`,
    );
  }
  return scheme === url.protocol ? url : new URL(`${scheme}${url.href.slice(url.protocol.length)}`);
}

/** HTTP_PROXY, HTTPS_PROXY and NO_PROXY from `env`; throws CONFIG_INVALID on a value that is not a proxy URL. */
export function envProxies(env: NodeJS.ProcessEnv): EnvProxies {
  const http = envAny(env, 'HTTP_PROXY');
  const https = envAny(env, 'HTTPS_PROXY');
  const noProxyText = envAny(env, 'NO_PROXY')?.value ?? '';
  return {
    http: http && parseProxyUrl(http.name, http.value),
    https: https && parseProxyUrl(https.name, https.value),
    noProxy: new NoProxy(noProxyText),
    noProxyText,
  };
}

/** A proxy URL for logs and errors, without credentials. */
export function redactProxy(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//***@');
}

/** Go's net.SplitHostPort, for NO_PROXY entries: undefined when `s` has no port part. */
function splitHostPort(s: string): { host: string; port: string } | undefined {
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0 || s[end + 1] !== ':') return undefined;
    return { host: s.slice(1, end), port: s.slice(end + 2) };
  }
  const colon = s.indexOf(':');
  if (colon < 0 || s.indexOf(':', colon + 1) >= 0) return undefined;
  return { host: s.slice(0, colon), port: s.slice(colon + 1) };
}

/** BlockList's name for an isIP() result of 4 or 6. */
function family(version: number): 'ipv4' | 'ipv6' {
  return version === 4 ? 'ipv4' : 'ipv6';
}

/** `.name` in punycode, as URL.hostname spells it (Go: idna.Lookup.ToASCII); as given if not a valid name. */
function asciiDomain(dotted: string): string {
  if (/^[\x00-\x7f]*$/.test(dotted)) return dotted;
  const ascii = domainToASCII(dotted.slice(1));
  return ascii === '' ? dotted : `.${ascii}`;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

interface IpEntry {
  readonly list: BlockList;
  /** '' matches any port. */
  readonly port: string;
}

interface DomainEntry {
  /** Always starts with '.'. */
  readonly suffix: string;
  /** Also matches the name itself (the entry had no leading '.' or '*.'). */
  readonly matchHost: boolean;
  readonly port: string;
}

/** NO_PROXY as Go's httpproxy reads it (see EnvProxies); entries it cannot read are ignored, as Go does. */
export class NoProxy {
  readonly #all: boolean;
  readonly #ips: IpEntry[] = [];
  readonly #domains: DomainEntry[] = [];

  constructor(value: string) {
    let all = false;
    for (const raw of value.split(',')) {
      const p = raw.trim().toLowerCase();
      if (p === '') continue;
      if (p === '*') {
        all = true;
        break;
      }
      const slash = p.indexOf('/');
      if (slash >= 0) {
        const ip = p.slice(0, slash);
        const bits = p.slice(slash + 1);
        const version = isIP(ip);
        if (version !== 0 && /^\d{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128)) {
          const list = new BlockList();
          list.addSubnet(ip, Number(bits), family(version));
          this.#ips.push({ list, port: '' });
        }
        continue;
      }
      const split = splitHostPort(p);
      const host = split?.host ?? p;
      const port = split?.port ?? '';
      if (host === '') continue;
      const version = isIP(host);
      if (version !== 0) {
        const list = new BlockList();
        list.addAddress(host, family(version));
        this.#ips.push({ list, port });
        continue;
      }
      let suffix = host.startsWith('*.') ? host.slice(1) : host;
      const matchHost = !suffix.startsWith('.');
      if (matchHost) suffix = `.${suffix}`;
      this.#domains.push({ suffix: asciiDomain(suffix), matchHost, port });
    }
    this.#all = all;
  }

  /**
   * True when a request to `hostname` (as URL.hostname gives it: lower case,
   * punycode, IPv6 in brackets) on `port` goes direct.
   */
  bypass(hostname: string, port: string): boolean {
    const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
    if (host === 'localhost') return true;
    const version = isIP(host);
    if (version !== 0 && LOOPBACK.check(host, family(version))) return true;
    if (this.#all) return true;
    if (version !== 0) return this.#ips.some((e) => e.list.check(host, family(version)) && (e.port === '' || e.port === port));
    return this.#domains.some((d) => (host.endsWith(d.suffix) || (d.matchHost && host === d.suffix.slice(1))) && (d.port === '' || d.port === port));
  }
}
