import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { CHANNEL_PROTOCOL, HEADER_CHANNEL, HEADER_CLIENT_META, HEADER_POLL_CAPACITY } from '@pushprox/shared';

/** How long the proxy may take to answer a channel upgrade. */
export const DEFAULT_CHANNEL_OPEN_TIMEOUT_MS = 10_000;
const SNIPPET_BYTES = 200;

export interface ChannelOpenOptions {
  /** Origin and path+query of `<proxy-url>/poll`. */
  readonly origin: string;
  readonly path: string;
  readonly fqdn: string;
  readonly capacity: number;
  /** `Bearer <token>` from --client.token-file. */
  readonly authorization?: string | undefined;
  /** The current X-Pushprox-Client-Meta value (targets/targets.ts clientMetaHeader), asked at each open: a module reload changes it. Default none. */
  readonly clientMeta?: (() => string) | undefined;
  readonly dispatcher: Dispatcher;
  /** Default DEFAULT_CHANNEL_OPEN_TIMEOUT_MS. */
  readonly timeoutMs?: number;
}

/** The proxy answered the upgrade with something other than 101 (`status`), or not at all. */
export class ChannelRefused extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ChannelRefused';
    this.status = status;
  }
}

/**
 * Opens a channel: `GET /poll` with `Upgrade: pushprox-channel/1` through the
 * proxy dispatcher (its TLS, client certificate and forward proxy apply).
 * Resolves to the upgraded socket (undici puts back any bytes that came with the 101).
 * A refusal quotes the proxy's status and the start of its answer.
 */
export function openChannel(opts: ChannelOpenOptions): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    let status: number | undefined;
    const parts: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (err: Error | undefined, socket?: Duplex): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(socket!);
    };
    let abort: ((reason: Error) => void) | undefined;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CHANNEL_OPEN_TIMEOUT_MS;
    const timer = setTimeout(() => {
      const err = new ChannelRefused(`proxy did not answer the channel upgrade within ${timeoutMs} ms`);
      abort?.(err);
      settle(err);
    }, timeoutMs);
    const headers = [HEADER_CHANNEL, opts.fqdn, HEADER_POLL_CAPACITY, String(opts.capacity)];
    if (opts.authorization) headers.push('Authorization', opts.authorization);
    const meta = opts.clientMeta?.();
    if (meta) headers.push(HEADER_CLIENT_META, meta);
    const handler: Dispatcher.DispatchHandler = {
      onConnect(a) {
        abort = a;
      },
      onHeaders(statusCode) {
        status = statusCode;
        return true;
      },
      onData(chunk) {
        if (size < SNIPPET_BYTES) parts.push(chunk);
        size += chunk.length;
        return true;
      },
      onComplete() {
        const snippet = Buffer.concat(parts).subarray(0, SNIPPET_BYTES).toString('utf8').trim();
        settle(new ChannelRefused(`proxy answered the channel upgrade with status ${status}: ${JSON.stringify(snippet)}`, status));
      },
      onError(err) {
        settle(err instanceof ChannelRefused ? err : new ChannelRefused(`channel upgrade failed: ${err.message}`, undefined, { cause: err }));
      },
      onUpgrade(statusCode, _headers, socket) {
        if (statusCode !== 101) {
          socket.destroy();
          return settle(new ChannelRefused(`proxy answered the channel upgrade with status ${statusCode}`, statusCode));
        }
        if (settled) return void socket.destroy();
        settle(undefined, socket);
      },
    };
    try {
      opts.dispatcher.dispatch(
        { origin: opts.origin, path: opts.path, method: 'GET', headers, upgrade: CHANNEL_PROTOCOL },
        handler,
      );
    } catch (err) {
      settle(err as Error);
    }
  });
}
