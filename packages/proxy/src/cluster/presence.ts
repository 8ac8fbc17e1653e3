import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  CLIENT_META_LIMITS,
  PRESENCE_BATCH,
  PROXY_ID_PATTERN,
  PROXY_NAME_MAX_CHARS,
  SUBJECT_HELLO,
  SUBJECT_PRESENCE,
  SUBJECT_FQDN_PATTERN,
  messageOf,
  type Logger,
  type PresenceMessage,
} from '@pushprox/shared';
import type { PeerTable } from './peer-table.js';
import { presenceBatches, type ClientDescription } from './presence-batches.js';

export interface PresenceOptions {
  readonly selfId: string;
  readonly table: PeerTable;
  /** The names this proxy holds now (its registry). */
  readonly localNames: () => readonly string[];
  /** Those of them with a poll or channel waiting now. */
  readonly connectedNames: () => readonly string[];
  /** Full announcements this often; an entry lives 3 intervals after its last one (--cluster.announce-interval). */
  readonly intervalMs: number;
  /** Each held client's metadata and transport, announced with its name. Default: names only. */
  readonly describe?: (name: string) => ClientDescription;
  /** This proxy's name for people (PresenceMessage.name). Default: none. */
  readonly name?: string;
  /** Told of each peer's message after the table applied it. Default: nothing. */
  readonly onApplied?: (msg: PresenceMessage) => void;
  readonly logger: Logger;
}

/** Changes (joins, leaves) are announced within this; full announcements every intervalMs. */
export const DIFF_MS = 500;
/** Most names a presence message may carry; a larger one is dropped (a peer sends PRESENCE_BATCH). */
const MAX_NAMES = PRESENCE_BATCH * 2;

/**
 * Presence over NATS: announces this proxy's names (changes within DIFF_MS,
 * everything every intervalMs with a TTL of three intervals) and feeds the
 * others' announcements into the PeerTable. A joining or reconnected proxy
 * says hello, and every peer answers with a full announcement at once.
 */
export class Presence {
  readonly #opts: PresenceOptions;
  #nc: NatsConnection | undefined;
  #subs: Subscription[] = [];
  #announced = new Set<string>();
  /** Names with a poll or channel waiting at the last tick. */
  #connected = new Set<string>();
  #timers: NodeJS.Timeout[] = [];
  #fullDue = false;

  constructor(opts: PresenceOptions) {
    this.#opts = opts;
  }

  /** Starts on a (re)connected connection. Idempotent per connection. */
  attach(nc: NatsConnection): void {
    if (this.#nc === nc) return void this.hello();
    this.#nc = nc;
    const { logger, table } = this.#opts;
    this.#subs.push(
      nc.subscribe(SUBJECT_PRESENCE, {
        callback: (err, m) => {
          if (err) return;
          const msg = parsePresence(m.data);
          if (msg) {
            table.apply(msg);
            if (msg.proxy !== this.#opts.selfId) this.#opts.onApplied?.(msg);
          } else logger.debug('Cluster: dropped a malformed presence message', { bytes: m.data.length });
        },
      }),
      nc.subscribe(SUBJECT_HELLO, {
        callback: (err, m) => {
          if (err || m.string() === this.#opts.selfId) return;
          this.#fullDue = true;
        },
      }),
    );
    const full = setInterval(() => (this.#fullDue = true), this.#opts.intervalMs);
    const tick = setInterval(() => this.#tick(), DIFF_MS);
    full.unref();
    tick.unref();
    this.#timers.push(full, tick);
    this.hello();
  }

  /** Asks every peer for a full announcement and makes our own. */
  hello(): void {
    this.#publish(SUBJECT_HELLO, Buffer.from(this.#opts.selfId));
    this.#fullDue = true;
    this.#tick();
  }

  /** Withdraws everything (clean shutdown) and stops. */
  async close(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#send('bye', []);
    for (const s of this.#subs) s.unsubscribe();
    this.#subs = [];
    try {
      await this.#nc?.flush();
    } catch {
      // Not connected: peers expire our names by TTL.
    }
  }

  /**
   * Announces registered names that are new, and names that have just got a
   * poll or channel waiting again: the peers forward to the proxy that
   * announced a name last, so a client whose polls a load balancer spreads
   * over proxies is found where it waits now. Withdraws names that left the
   * registry.
   */
  #tick(): void {
    this.#opts.table.sweep();
    const now = new Set(this.#opts.localNames());
    const connected = new Set(this.#opts.connectedNames());
    let added: string[];
    if (this.#fullDue) {
      this.#fullDue = false;
      added = [...now];
    } else {
      added = [...now].filter((n) => !this.#announced.has(n) || (connected.has(n) && !this.#connected.has(n)));
    }
    const waiting = added.filter((n) => connected.has(n));
    if (waiting.length) this.#send('add', waiting);
    const registered = added.filter((n) => !connected.has(n));
    if (registered.length) this.#send('add', registered, true);
    const removed = [...this.#announced].filter((n) => !now.has(n));
    if (removed.length) this.#send('del', removed);
    this.#announced = now;
    this.#connected = connected;
  }

  #send(kind: PresenceMessage['kind'], names: readonly string[], refresh = false): void {
    const { name, describe } = this.#opts;
    const base = { v: 1, proxy: this.#opts.selfId, kind, ttlMs: this.#opts.intervalMs * 3, ...(refresh && { refresh: true }), ...(name && { name }) } as const;
    for (const data of presenceBatches(base, names, kind === 'add' ? describe : undefined)) this.#publish(SUBJECT_PRESENCE, data);
  }

  #publish(subject: string, data: Buffer): void {
    try {
      this.#nc?.publish(subject, data);
    } catch (err) {
      this.#opts.logger.debug('Cluster: presence not published', { err: messageOf(err) });
    }
  }
}

/** A presence message as a peer sent it, or undefined when it breaks the format. */
export function parsePresence(data: Uint8Array): PresenceMessage | undefined {
  try {
    const v = JSON.parse(Buffer.from(data).toString()) as Partial<PresenceMessage>;
    if (v.v !== 1 || typeof v.proxy !== 'string' || !PROXY_ID_PATTERN.test(v.proxy)) return undefined;
    if (v.kind !== 'add' && v.kind !== 'del' && v.kind !== 'bye') return undefined;
    if (!Number.isInteger(v.ttlMs) || v.ttlMs! < 1 || v.ttlMs! > 3_600_000) return undefined;
    if (!Array.isArray(v.fqdns) || v.fqdns.length > MAX_NAMES) return undefined;
    if (!v.fqdns.every((f) => typeof f === 'string' && f.length > 0 && f.length <= 255)) return undefined;
    if (v.direct !== undefined && v.direct !== true) return undefined;
    if (v.refresh !== undefined && v.refresh !== true) return undefined;
    // A direct client announces only names it can be reached by (clientSubject).
    if (v.direct && !v.fqdns.every((f) => SUBJECT_FQDN_PATTERN.test(f.toLowerCase()))) return undefined;
    if (v.name !== undefined && (typeof v.name !== 'string' || v.name.length > PROXY_NAME_MAX_CHARS)) return undefined;
    if (v.meta !== undefined && !validMeta(v.meta)) return undefined;
    if (v.metaOf !== undefined && !validMetaOf(v.metaOf, v.fqdns.length, v.meta?.length ?? 0)) return undefined;
    if (v.transports !== undefined && !(typeof v.transports === 'string' && v.transports.length === v.fqdns.length && /^[cpu-]*$/.test(v.transports))) return undefined;
    return v as PresenceMessage;
  } catch {
    return undefined;
  }
}

/** Distinct X-Pushprox-Client-Meta values: base64url within the header's bound (decoded, and validated, where stored). */
function validMeta(meta: unknown): boolean {
  if (!Array.isArray(meta) || meta.length > MAX_NAMES) return false;
  return meta.every((m) => typeof m === 'string' && m.length <= CLIENT_META_LIMITS.headerBytes && /^[A-Za-z0-9_-]*$/.test(m));
}

/** One entry per FQDN: an index into `meta`, or -1 for none. */
function validMetaOf(metaOf: unknown, names: number, metas: number): boolean {
  if (!Array.isArray(metaOf) || metaOf.length !== names) return false;
  return metaOf.every((m: unknown) => Number.isInteger(m) && (m as number) >= -1 && (m as number) < metas);
}
