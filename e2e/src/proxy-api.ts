import http from 'node:http';
import { HEADER_CLIENT_META, HEADER_HELLO, HEADER_POLL_CAPACITY } from '@pushprox/shared';
import { getUrl } from './http.js';
import type { Proc } from './procs.js';

/** What reaching the proxy's API takes: for an https proxy URL, the CA its certificate is from; any headers (basic auth). */
export interface ApiAccess {
  readonly ca?: Buffer | undefined;
  readonly headers?: Record<string, string> | undefined;
}

/** FQDNs the proxy lists in /clients. */
export async function registeredClients(proxyUrl: string, access: ApiAccess = {}): Promise<string[]> {
  const r = await getUrl(`${proxyUrl}/clients`, access);
  if (r.status !== 200) throw new Error(`expected 200 from ${proxyUrl}/clients, got ${r.status}: ${r.body.toString()}`);
  const groups = JSON.parse(r.body.toString()) as Array<{ targets: string[] }>;
  return groups.flatMap((g) => g.targets);
}

/**
 * Waits until every one of `fqdns` is in /clients; rejects after `timeoutMs`,
 * or at once if `client` (when given) has exited, with its output.
 */
export async function waitRegistered(
  proxyUrl: string,
  fqdns: string | readonly string[],
  opts: { timeoutMs?: number; client?: Proc } & ApiAccess = {},
): Promise<void> {
  const want = typeof fqdns === 'string' ? [fqdns] : fqdns;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const end = Date.now() + timeoutMs;
  for (;;) {
    const have = new Set(await registeredClients(proxyUrl, { ca: opts.ca, headers: opts.headers }));
    if (want.every((f) => have.has(f))) return;
    const c = opts.client;
    if (c && !c.running) throw new Error(`${c.name} exited (${c.child.exitCode}):\n${c.output}`);
    if (Date.now() > end) throw new Error(`${want.join(', ')} did not register within ${timeoutMs} ms${c ? `:\n${c.output}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The value of one series on `<url>/metrics` (`name` or `name{labels}` as exposed), or NaN when absent. */
export async function metricValue(url: string, name: string, access: ApiAccess = {}): Promise<number> {
  const r = await getUrl(`${url}/metrics`, access);
  if (r.status !== 200) throw new Error(`expected 200 from ${url}/metrics, got ${r.status}`);
  // The series (`name{a="b"}` too) is matched literally.
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return Number(new RegExp(`^${escaped} (\\S+)$`, 'm').exec(r.body.toString())?.[1]);
}

/** A raw hello poll carrying client metadata, as our client sends it: registers `fqdn` with it. */
export function helloWithMeta(proxyUrl: string, fqdn: string, meta: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${proxyUrl}/poll`, {
      method: 'POST',
      headers: { [HEADER_POLL_CAPACITY]: '1', [HEADER_HELLO]: '1', [HEADER_CLIENT_META]: meta },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(fqdn);
  });
}
