import os from 'node:os';
import dns from 'node:dns';

/**
 * This machine's fully-qualified name, the default of `--fqdn` (upstream uses
 * Showmax/go-fqdn): the hostname if it already has a dot, else the canonical
 * name found by a forward lookup of the hostname and a reverse lookup of the
 * first address (what getaddrinfo/getnameinfo give), else the bare hostname.
 *
 * Invariant: never throws and never takes much longer than `timeoutMs`, so a
 * broken resolver only costs startup time, not the start itself.
 */
export interface FqdnOptions {
  /** Bound on the whole DNS attempt, in ms. Default 1000. */
  readonly timeoutMs?: number;
  /** Default os.hostname. */
  readonly hostname?: () => string;
  /** Default dns.promises.lookup. */
  readonly lookup?: (host: string) => Promise<{ address: string }>;
  /** Default dns.promises.lookupService. */
  readonly lookupService?: (address: string, port: number) => Promise<{ hostname: string }>;
}

export async function resolveFqdn(opts: FqdnOptions = {}): Promise<string> {
  const host = (opts.hostname ?? os.hostname)();
  if (host.includes('.')) return host;
  const lookup = opts.lookup ?? ((h: string) => dns.promises.lookup(h));
  const lookupService = opts.lookupService ?? ((a: string, p: number) => dns.promises.lookupService(a, p));
  const attempt = (async (): Promise<string | undefined> => {
    const { address } = await lookup(host);
    const { hostname } = await lookupService(address, 0);
    return hostname;
  })().catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), opts.timeoutMs ?? 1000);
  });
  try {
    const name = await Promise.race([attempt, timeout]);
    // Reverse lookups can answer with an address or `localhost`; only a
    // dotted name that is not an IP literal is an FQDN.
    return name !== undefined && isDottedName(name) ? name : host;
  } finally {
    clearTimeout(timer);
  }
}

function isDottedName(name: string): boolean {
  return name.includes('.') && !/^[\d.]+$/.test(name) && !name.includes(':');
}
