import { getUrl } from './http.js';
import type { Proc } from './procs.js';

/** FQDNs the proxy lists in /clients. */
export async function registeredClients(proxyUrl: string): Promise<string[]> {
  const groups = JSON.parse((await getUrl(`${proxyUrl}/clients`)).body.toString()) as Array<{ targets: string[] }>;
  return groups.flatMap((g) => g.targets);
}

/**
 * Waits until every one of `fqdns` is in /clients; rejects after `timeoutMs`,
 * or at once if `client` (when given) has exited, with its output.
 */
export async function waitRegistered(
  proxyUrl: string,
  fqdns: string | readonly string[],
  opts: { timeoutMs?: number; client?: Proc } = {},
): Promise<void> {
  const want = typeof fqdns === 'string' ? [fqdns] : fqdns;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const end = Date.now() + timeoutMs;
  for (;;) {
    const have = new Set(await registeredClients(proxyUrl));
    if (want.every((f) => have.has(f))) return;
    const c = opts.client;
    if (c && !c.running) throw new Error(`${c.name} exited (${c.child.exitCode}):\n${c.output}`);
    if (Date.now() > end) throw new Error(`${want.join(', ')} did not register within ${timeoutMs} ms${c ? `:\n${c.output}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The value of an unlabelled metric on `<url>/metrics`, or NaN when absent. */
export async function metricValue(url: string, name: string): Promise<number> {
  const text = (await getUrl(`${url}/metrics`)).body.toString();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
}
