import { encodeClientMeta, HEADER_CLIENT_META, type ClientModuleMeta } from '@pushprox/shared';

/**
 * One FQDN this client polls for. A plain client has one; a gateway (`--fqdn`
 * given more than once, or a config's `targets:`) has several, each with its
 * own poll loops or channels, scrape scheduler, labels and modules.
 */
export interface ClientTarget {
  readonly fqdn: string;
  /** Discovery labels sent to our proxy (X-Pushprox-Client-Meta); shown in /clients. Default {}. */
  readonly labels: Readonly<Record<string, string>>;
  /** Named modules served on this FQDN's virtual host; listed in /clients. Default []. */
  readonly modules: readonly ClientModuleMeta[];
}

/**
 * Longest X-Pushprox-Client-Meta a client sends: the poll's whole head must
 * fit a proxy's header limit (Node's default 16 KiB), so half of that.
 */
export const MAX_CLIENT_META_HEADER_BYTES = 8 * 1024;

/**
 * The header value for `target`, checked once at start so a bad label fails
 * the client, not every poll. Throws an Error naming the FQDN and the fault.
 */
export function clientMetaHeader(target: ClientTarget, version: string | undefined): string {
  let value: string;
  try {
    value = encodeClientMeta({ labels: target.labels, modules: target.modules, ...(version !== undefined && { version: version.slice(0, 64) }) });
  } catch (err) {
    throw new Error(`labels or modules of ${JSON.stringify(target.fqdn)}: ${(err as Error).message}`, { cause: err });
  }
  if (value.length > MAX_CLIENT_META_HEADER_BYTES) {
    throw new Error(
      `labels and modules of ${JSON.stringify(target.fqdn)} encode to a ${value.length}-byte ${HEADER_CLIENT_META} header; ` +
        `expected at most ${MAX_CLIENT_META_HEADER_BYTES} so that a poll fits the proxy's header limit`,
    );
  }
  return value;
}

/** The targets of `--fqdn` (each once, case-insensitively) with the same `--label`s; throws naming a duplicate. */
export function targetsOf(fqdns: readonly string[], labels: Readonly<Record<string, string>>): readonly ClientTarget[] {
  const seen = new Map<string, string>();
  for (const fqdn of fqdns) {
    if (fqdn === '') throw new Error('invalid value for --fqdn: expected a host name, got ""');
    const prev = seen.get(fqdn.toLowerCase());
    if (prev !== undefined) throw new Error(`invalid value for --fqdn: ${JSON.stringify(fqdn)} given twice (as ${JSON.stringify(prev)} before)`);
    seen.set(fqdn.toLowerCase(), fqdn);
  }
  return Object.freeze(fqdns.map((fqdn) => Object.freeze({ fqdn, labels, modules: Object.freeze([]) })));
}
