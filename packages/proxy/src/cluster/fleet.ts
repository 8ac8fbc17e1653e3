/**
 * The fleet's clients for /clients: this proxy's names and those the other
 * proxies announce, each FQDN once (case-insensitively, the local spelling
 * first), sorted like the local registry's list. The same entries the local
 * registry gives, so whatever /clients makes of them applies to the fleet.
 */
export function fleetClients(local: readonly string[], remote: readonly string[]): string[] {
  if (remote.length === 0) return [...local];
  const seen = new Set<string>();
  const out: string[] = [];
  for (const name of [...local, ...remote]) {
    const key = name.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(name);
  }
  return out.sort();
}
