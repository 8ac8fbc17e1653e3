/**
 * Listen addresses in Go's `host:port` form, as upstream's flags take them:
 * `:8080` (all interfaces), `127.0.0.1:8080`, `[::1]:8080`, `localhost:0`.
 */
export interface ListenAddress {
  /** undefined means every interface. */
  readonly host: string | undefined;
  readonly port: number;
}

export function parseListenAddress(input: string): ListenAddress {
  const fail = (why: string): never => {
    throw new Error(`expected host:port such as :8080 or 127.0.0.1:8080, got ${JSON.stringify(input)}: ${why}`);
  };
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(input);
  if (!m) return fail('not of the form host:port');
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (port > 65535) fail('port above 65535');
  return { host: host === '' ? undefined : host, port };
}

/** `host:port` for logs and URLs, bracketing IPv6 literals. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
