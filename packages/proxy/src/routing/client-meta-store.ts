import { decodeClientMeta, EMPTY_CLIENT_META, type ClientMeta } from '@pushprox/shared';

/** A decoded X-Pushprox-Client-Meta header and the raw value it came from (the interning key). */
export interface ReceivedMeta {
  readonly raw: string;
  readonly meta: ClientMeta;
}

/**
 * Default budget of distinct metadata held at once, counted as twice the raw
 * header bytes (the decoded copy). A fleet shares few label sets, so this is
 * far above need; it stops a flood of distinct headers from growing memory.
 */
export const DEFAULT_CLIENT_META_BYTES = 64 * 1024 * 1024;

interface Interned {
  readonly meta: ClientMeta;
  readonly bytes: number;
  /** Has labels or modules (changes /clients); a version alone does not. */
  readonly discovery: boolean;
  refs: number;
}

/**
 * What each registered FQDN's client last said about itself (labels,
 * modules, version). Invariants: an FQDN maps to the metadata of its newest
 * poll; identical headers share one decoded object (interned by raw value,
 * reference-counted), so a fleet with one label set costs one copy; the
 * interned bytes never exceed the budget (metadata that would is not stored
 * and the FQDN shows none); an FQDN the registry forgets is forgotten here.
 */
export class ClientMetaStore {
  readonly #byKey = new Map<string, string>();
  readonly #interned = new Map<string, Interned>();
  readonly #maxBytes: number;
  #bytes = 0;
  /** FQDN keys with labels or modules: zero means /clients is upstream's. */
  #nonEmpty = 0;

  constructor(maxBytes = DEFAULT_CLIENT_META_BYTES) {
    this.#maxBytes = maxBytes;
  }

  /** Decodes `raw`, reusing a copy already held; throws ClientMetaError naming the fault. */
  decode(raw: string): ReceivedMeta {
    const held = this.#interned.get(raw);
    return { raw, meta: held ? held.meta : decodeClientMeta(raw) };
  }

  /**
   * Records the metadata of a poll for `key` (undefined: the poll carried
   * none, as an upstream client's). Returns false if it was not stored
   * because the budget is spent.
   */
  set(key: string, received: ReceivedMeta | undefined): boolean {
    const current = this.#byKey.get(key);
    if (current === received?.raw) return true;
    if (received === undefined) {
      this.delete(key);
      return true;
    }
    let entry = this.#interned.get(received.raw);
    if (!entry) {
      const bytes = 2 * received.raw.length;
      if (this.#bytes + bytes > this.#maxBytes) {
        this.delete(key);
        return false;
      }
      entry = { meta: received.meta, bytes, discovery: hasDiscovery(received.meta), refs: 0 };
      this.#interned.set(received.raw, entry);
      this.#bytes += bytes;
    }
    entry.refs++;
    this.delete(key);
    this.#byKey.set(key, received.raw);
    if (entry.discovery) this.#nonEmpty++;
    return true;
  }

  get(key: string): ClientMeta {
    const raw = this.#byKey.get(key);
    return (raw === undefined ? undefined : this.#interned.get(raw)?.meta) ?? EMPTY_CLIENT_META;
  }

  /** The header value `key`'s metadata was decoded from (what presence passes on), or undefined. */
  raw(key: string): string | undefined {
    return this.#byKey.get(key);
  }

  delete(key: string): void {
    const raw = this.#byKey.get(key);
    if (raw === undefined) return;
    this.#byKey.delete(key);
    const entry = this.#interned.get(raw);
    if (entry?.discovery) this.#nonEmpty--;
    if (entry && --entry.refs === 0) {
      this.#interned.delete(raw);
      this.#bytes -= entry.bytes;
    }
  }

  /** True when no FQDN has labels or modules. */
  get empty(): boolean {
    return this.#nonEmpty === 0;
  }

  /** Distinct metadata held, and its budgeted bytes (for tests and metrics). */
  stats(): { distinct: number; bytes: number } {
    return { distinct: this.#interned.size, bytes: this.#bytes };
  }
}

function hasDiscovery(meta: ClientMeta): boolean {
  return meta.modules.length > 0 || Object.keys(meta.labels).length > 0;
}
