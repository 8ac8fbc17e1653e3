import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';

/**
 * One wildcard subscription for the many short exchanges of forwarding: each
 * gets a subject under it instead of a subscription of its own, which would
 * cost a SUB and an UNSUB, and their propagation over every route of the NATS
 * cluster, per scrape. Invariant: a handler lives from open() until its
 * close(), which every exchange calls when it settles (bounded by its deadline).
 */
export class InboxMux {
  readonly #base = createInbox();
  readonly #handlers = new Map<string, (m: Msg) => void>();
  #sub: Subscription | undefined;
  #seq = 0;

  open(nc: NatsConnection, handler: (m: Msg) => void): { readonly subject: string; close(): void } {
    this.#sub ??= nc.subscribe(`${this.#base}.*`, {
      callback: (err, m) => {
        if (err) return;
        const handle = this.#handlers.get(m.subject.slice(this.#base.length + 1));
        try {
          handle?.(m);
        } catch {
          // Called from the NATS socket's data handler: nothing may throw out of it.
        }
      },
    });
    const token = (++this.#seq).toString(36);
    this.#handlers.set(token, handler);
    return { subject: `${this.#base}.${token}`, close: () => void this.#handlers.delete(token) };
  }

  /** Exchanges open now. */
  get size(): number {
    return this.#handlers.size;
  }
}
