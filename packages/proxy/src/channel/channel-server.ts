import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  formatDuration,
  CHANNEL_PING_MS,
  CHANNEL_PROTOCOL,
  CHANNEL_SILENCE_MS,
  ERROR_CODES,
  HEADER_CHANNEL,
  HEADER_POLL_CAPACITY,
  HTTP_STATUS,
  codeOf,
  messageOf,
  PATH_POLL,
  RECONNECT_SPREAD_MS,
  statusOf,
} from '@pushprox/shared';
import { WarnAggregator } from '../warn-aggregator.js';
import { headerOf } from '../listeners/body.js';
import { endWithText } from '../listeners/respond.js';
import { forbidden, type ClientAuthenticator } from '../auth/client-auth.js';
import { ProxyChannel, type ChannelDeps } from './channel.js';
import { parseFqdn } from '../exchanges/fqdn.js';
import { clientMetaOf } from '../exchanges/client-meta.js';
import { parseCapacity } from '../exchanges/poll-wait.js';
import type { ListenerRole } from '../listeners/app.js';

export interface ChannelServerOptions extends ChannelDeps {
  readonly authn: ClientAuthenticator;
  /** Ping a waiting channel silent this long. Default CHANNEL_PING_MS. */
  readonly pingMs?: number;
  /** Close a waiting channel silent this long. Default CHANNEL_SILENCE_MS. */
  readonly silenceMs?: number;
  /**
   * The longest scrape (--scrape.max-timeout): a channel that took a scrape
   * and has sent nothing for this plus silenceMs is closed.
   */
  readonly longestScrapeMs: number;
}

const SWITCHING = `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${CHANNEL_PROTOCOL}\r\n\r\n`;

/**
 * Accepts channel upgrades (`GET /poll` with `Upgrade: pushprox-channel/1`)
 * on client-role listeners, with the same client authentication as /poll,
 * and keeps the channels alive: one sweep timer pings the waiting ones and
 * closes those that stopped answering.
 */
export class ChannelServer {
  readonly #opts: ChannelServerOptions;
  readonly #channels = new Set<ProxyChannel>();
  readonly #pingMs: number;
  readonly #silenceMs: number;
  readonly #busySilenceMs: number;
  #sweep: NodeJS.Timeout | undefined;
  #closing = false;
  /** Refused upgrades are whatever anyone who reaches the client port sends: one line per source, then a count a minute. */
  readonly #badChannels: WarnAggregator;

  constructor(opts: ChannelServerOptions) {
    this.#opts = opts;
    this.#pingMs = opts.pingMs ?? CHANNEL_PING_MS;
    this.#silenceMs = opts.silenceMs ?? CHANNEL_SILENCE_MS;
    this.#busySilenceMs = opts.longestScrapeMs + this.#silenceMs;
    this.#badChannels = new WarnAggregator({ logger: opts.logger, msg: 'Bad channel' });
  }

  /** Channels open now. */
  get size(): number {
    return this.#channels.size;
  }

  /** server.on('upgrade') of a listener with `role`. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, role: ListenerRole): void {
    socket.on('error', () => socket.destroy());
    const q = req.url?.indexOf('?') ?? -1;
    const path = q < 0 ? req.url : req.url?.slice(0, q);
    const protocol = headerOf(req, 'upgrade') ?? '';
    if (role === 'scraper' || path !== PATH_POLL) {
      return endWithText(socket, HTTP_STATUS[ERROR_CODES.WRONG_LISTENER], '404 page not found');
    }
    if (protocol.trim().toLowerCase() !== CHANNEL_PROTOCOL) {
      return endWithText(socket, 400, `expected "Upgrade: ${CHANNEL_PROTOCOL}" on ${PATH_POLL}, got ${JSON.stringify(protocol.slice(0, 64))}`);
    }
    if (this.#closing) return endWithText(socket, 503, 'proxy is shutting down');
    let channel: ProxyChannel;
    try {
      const identity = this.#opts.authn.identify(req);
      const fqdn = parseFqdn(headerOf(req, HEADER_CHANNEL) ?? '');
      if (!identity.allows(fqdn)) throw forbidden(identity, fqdn);
      this.#opts.coordinator.admit(fqdn);
      const capacity = parseCapacity(headerOf(req, HEADER_POLL_CAPACITY)) ?? 1;
      const meta = clientMetaOf(req, this.#opts.coordinator);
      channel = new ProxyChannel(socket, { fqdn, identity, capacity, meta, onClosed: (c) => this.#channels.delete(c) }, this.#opts);
    } catch (err) {
      // A refused registration is logged (aggregated) where it is counted: see CoordinatorOptions.onRegistrationRefused.
      if (codeOf(err) !== ERROR_CODES.REGISTRATION_FULL) this.#badChannels.note(req.socket.remoteAddress ?? 'unknown', { err: messageOf(err) });
      return endWithText(socket, statusOf(err), `Error polling: ${messageOf(err)}`);
    }
    // The request's own read timeouts no longer apply; the sweep watches the channel.
    (socket as Partial<Socket>).setTimeout?.(0);
    (socket as Partial<Socket>).setNoDelay?.(true);
    socket.write(SWITCHING);
    this.#channels.add(channel);
    this.#sweep ??= setInterval(() => this.#check(), Math.max(10, Math.floor(this.#pingMs / 3))).unref();
    if (this.#opts.logger.debugEnabled) this.#opts.logger.debug('Channel opened', { fqdn: channel.fqdn });
    channel.wait();
    if (head.length > 0) channel.receive(head);
  }

  /**
   * The proxy stops: refuses new channels and tells each client to reconnect
   * (ProxyChannel.handover); waiting channels end now, busy ones once their
   * scrape is answered. closeAll() later cuts what is left.
   */
  handover(): void {
    this.#closing = true;
    const spread = Buffer.from(String(RECONNECT_SPREAD_MS));
    for (const c of this.#channels) c.handover(spread);
  }

  /** Ends every channel (shutdown): waiting ones at once, busy ones are cut. */
  closeAll(): void {
    this.#closing = true;
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    for (const c of this.#channels) c.destroy();
  }

  #check(): void {
    const now = Date.now();
    for (const c of this.#channels) {
      if (!c.waiting) {
        // A client that never answers a scrape must not hold the channel (and its relay) forever.
        if (now - c.heardAt >= this.#busySilenceMs) c.close('no response to the scrape request');
        continue;
      }
      if (now - c.heardAt >= this.#silenceMs) {
        this.#opts.logger.warn('Closed a silent channel', { fqdn: c.fqdn, silent_for: formatDuration(now - c.heardAt) });
        c.close('channel silent');
      } else if (now - c.sentAt >= this.#pingMs && now - c.heardAt >= this.#pingMs) c.ping();
    }
    if (this.#channels.size === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }
}
