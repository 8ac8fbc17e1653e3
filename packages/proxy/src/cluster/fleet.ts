import { hostname } from 'node:os';
import { EMPTY_CLIENT_META, type ClientMeta } from '@pushprox/shared';
import { targetGroups, type TargetGroup } from '../discovery/target-groups.js';
import type { RemoteClient } from './peer-table.js';

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

/** This proxy's own clients, as /clients reads them from the coordinator. */
export interface LocalClients {
  /** Registered names, sorted. */
  readonly names: readonly string[];
  readonly metaOf: (fqdn: string) => ClientMeta;
  /** Whether some local client has labels or modules. */
  readonly anyMeta: boolean;
}

/**
 * The fleet's /clients: targetGroups() over fleetClients(), a client held
 * here described by its own polls, one held elsewhere by what its holder
 * announced. So a proxy's /clients is the same on every proxy of the fleet,
 * and is upstream's list (one group per name, no labels) while no client
 * anywhere sends labels or modules.
 */
export function fleetTargetGroups(local: LocalClients, remote: readonly RemoteClient[]): TargetGroup[] {
  if (remote.length === 0) return targetGroups(local.names, local.metaOf, local.anyMeta);
  const names = fleetClients(local.names, remote.map((c) => c.name));
  const anyMeta = local.anyMeta || remote.some((c) => c.meta !== EMPTY_CLIENT_META && (c.meta.modules.length > 0 || Object.keys(c.meta.labels).length > 0));
  // Upstream's shape: metadata is not looked at.
  if (!anyMeta) return targetGroups(names, local.metaOf, false);
  const localKeys = new Set(local.names.map((n) => n.toLowerCase()));
  const remoteMeta = new Map<string, ClientMeta>();
  for (const c of remote) remoteMeta.set(c.name.toLowerCase(), c.meta);
  const metaOf = (fqdn: string): ClientMeta => {
    const key = fqdn.toLowerCase();
    return localKeys.has(key) ? local.metaOf(fqdn) : (remoteMeta.get(key) ?? EMPTY_CLIENT_META);
  };
  return targetGroups(names, metaOf, anyMeta);
}

/**
 * This proxy's name for people (presence's `name`, the peers' "held by"):
 * its first listener's address, or the host name and port when that
 * listener takes every address (`:8080`, `0.0.0.0`, `[::]`).
 */
export function proxyName(listenAddress: string, host = hostname()): string {
  const m = /^(?:\[(.*)\]|(.*)):(\d+)$/.exec(listenAddress);
  if (!m) return listenAddress || host;
  const addr = m[1] ?? m[2] ?? '';
  return addr === '' || addr === '0.0.0.0' || addr === '::' ? `${host}:${m[3]}` : listenAddress;
}
