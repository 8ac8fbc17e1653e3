import { Readable, type Duplex } from 'node:stream';
import {
  encodeFrame,
  ERROR_CODES,
  FRAME,
  FrameReader,
  MAX_ABORT_REASON_BYTES,
  codeOf,
  messageOf,
  PATH_POLL,
  PATH_PUSH,
  PushProxError,
  statusOf,
  type FrameType,
} from '@pushprox/shared';
import type { PollEndReason, PollSink, ReceivedMeta, ScrapeJob, Ticket } from '../routing/coordinator.js';
import type { ClientIdentity } from '../auth/client-auth.js';
import { relayPushed, relayWholePushed, WHOLE_PUSH_BYTES, type PushRelayDeps } from '../exchanges/push-relay.js';

/** Counts and times an exchange under upstream's path metrics (/poll, /push). */
export type ObserveApi = (path: string, status: number, seconds: number) => void;

export interface ChannelDeps extends PushRelayDeps {
  readonly observe: ObserveApi;
}

function ignoreError(): void {}

/**
 * Whether a relay failed because its scrape is gone: answered or expired
 * (410), never known (404), or the scraper hung up while it was relayed
 * (PUSH_ABORTED: the relay's destination failed; a bad pushed body keeps its
 * own WIRE_* code).
 */
function scrapeWentAway(err: unknown): boolean {
  const code = codeOf(err);
  return code === ERROR_CODES.PUSH_EXPIRED_ID || code === ERROR_CODES.PUSH_UNKNOWN_ID || code === ERROR_CODES.PUSH_ABORTED;
}

/** Highest buffered pushed bytes before the socket is paused (backpressure to the client). */
const BODY_HIGH_WATER_MARK = 64 * 1024;

/**
 * The proxy's end of one channel (see FEATURE_CHANNEL): a poll that comes
 * back after every scrape. States: `waiting` (a poll is registered with the
 * coordinator), `busy` (a REQUEST was written; DATA and END come back), then
 * `waiting` again once the response is relayed and END has arrived (or
 * ABORT: the scrape fails with the client's reason), or `closed`. Any
 * protocol breach, refused push or end of the socket closes the channel; a
 * scrape in flight on it then fails at once, with the refusal's reason if
 * there was one.
 */
export class ProxyChannel implements PollSink {
  readonly fqdn: string;
  readonly #socket: Duplex;
  readonly #identity: ClientIdentity;
  readonly #capacity: number;
  /** The upgrade's client metadata, given again with every poll the channel makes. */
  readonly #meta: ReceivedMeta | undefined;
  readonly #deps: ChannelDeps;
  readonly #reader: FrameReader;
  readonly #onClosed: (channel: ProxyChannel) => void;
  #state: 'waiting' | 'busy' | 'closed' = 'waiting';
  #ticket: Ticket | undefined;
  /** The pushed bytes held back while they may still be relayed whole: until END, or past WHOLE_PUSH_BYTES. */
  #held: Buffer[] = [];
  /** Set once the push streams (it outgrew WHOLE_PUSH_BYTES); DATA then goes straight into it. */
  #body: Readable | undefined;
  /** The scrape handed out on this channel and not yet answered. */
  #jobId: string | undefined;
  /** Bytes of DATA in the current exchange: bounded by maxBodyBytes. */
  #bytes = 0;
  #ended = false;
  /** The client sent ABORT for the current exchange: the scrape fails with this. */
  #aborted: PushProxError | undefined;
  #wasRelayed = false;
  /** The current push has nowhere to go (its scrape ended): its DATA is counted and dropped until END. */
  #discarding = false;
  #closeAsked = false;
  #since = performance.now();
  /** Date.now() of the last byte read and the last frame written (for the sweep). */
  heardAt = Date.now();
  sentAt = Date.now();

  constructor(
    socket: Duplex,
    opts: { fqdn: string; identity: ClientIdentity; capacity: number; meta?: ReceivedMeta | undefined; onClosed: (channel: ProxyChannel) => void },
    deps: ChannelDeps,
  ) {
    this.#socket = socket;
    this.fqdn = opts.fqdn;
    this.#identity = opts.identity;
    this.#capacity = opts.capacity;
    this.#meta = opts.meta;
    this.#onClosed = opts.onClosed;
    this.#deps = deps;
    this.#reader = new FrameReader(
      { onData: (b) => this.#onData(b), onFrame: (t, p) => this.#onFrame(t, p) },
      [FRAME.DATA, FRAME.END, FRAME.ABORT, FRAME.PING, FRAME.PONG, FRAME.CLOSE],
    );
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => socket.destroy());
    // Sockets of Node's HTTP server allow half-open: the client's FIN alone would not close them.
    socket.on('end', () => socket.destroy());
    socket.on('close', () => this.#closed());
  }

  /** Bytes read from the socket (or sent along with the upgrade request). */
  receive(chunk: Buffer): void {
    this.heardAt = Date.now();
    try {
      this.#reader.push(chunk);
    } catch (err) {
      this.close(messageOf(err));
    }
  }

  get waiting(): boolean {
    return this.#state === 'waiting';
  }

  /** Registers the poll; the coordinator may deliver at once. */
  wait(): void {
    if (this.#state !== 'waiting') return;
    this.#since = performance.now();
    const ticket = this.#deps.coordinator.poll(this.fqdn, { capacity: this.#capacity, hello: false, persistent: true, meta: this.#meta }, this);
    if (this.#state === 'waiting') this.#ticket = ticket;
  }

  deliver(job: ScrapeJob): boolean {
    if (this.#state !== 'waiting' || this.#socket.destroyed) return false;
    this.#ticket = undefined;
    this.#state = 'busy';
    // The client's silence counts from the request (see ChannelServerOptions.longestScrapeMs).
    this.heardAt = Date.now();
    this.#ended = false;
    this.#aborted = undefined;
    this.#wasRelayed = false;
    this.#discarding = false;
    this.#bytes = 0;
    this.#jobId = job.id;
    this.#write(encodeFrame(FRAME.REQUEST, job.request));
    const now = performance.now();
    this.#deps.observe(PATH_POLL, 200, (now - this.#since) / 1000);
    this.#since = now;
    return true;
  }

  /** The push outgrew WHOLE_PUSH_BYTES: relay it as it streams, starting with the bytes held. */
  #stream(): Readable {
    // DATA is pushed straight into this stream; reading it resumes the socket (backpressure).
    const socket = this.#socket;
    const body = new Readable({ highWaterMark: BODY_HIGH_WATER_MARK, read: () => void socket.resume() });
    // Invariant: the body has an 'error' listener for its whole life. The relay reports its
    // failures through its promise and then lets go of the body; #stop destroys it with an
    // error afterwards (a push over --push.max-body-size did: unheard, that error stopped the process).
    body.on('error', ignoreError);
    this.#body = body;
    for (const piece of this.#held) body.push(piece);
    this.#held = [];
    relayPushed(body, this.#identity, this.#deps).then(
      () => {
        // Bytes after the pushed response's own end are not relayed; they are read and dropped until END.
        body.resume();
        this.#relayed();
      },
      this.#relayFailed,
    );
    return body;
  }

  /** Fields, not methods: both are passed to then() once per scrape without a new closure. */
  readonly #relayed = (): void => {
    this.#deps.observe(PATH_PUSH, 200, (performance.now() - this.#since) / 1000);
    this.#wasRelayed = true;
    this.#next();
  };

  readonly #relayFailed = (err: unknown): void => {
    const aborted = this.#aborted;
    if (aborted) {
      // The relay failed because ABORT destroyed its body (a response under way is cut there).
      this.#deps.observe(PATH_PUSH, aborted.status, (performance.now() - this.#since) / 1000);
      this.#failScrape(aborted);
      this.#wasRelayed = true;
      return this.#next();
    }
    this.#deps.observe(PATH_PUSH, statusOf(err), (performance.now() - this.#since) / 1000);
    if (scrapeWentAway(err)) {
      // Prometheus gave up (its timeout) or hung up mid-body: no fault of the client's, whose
      // channel stays. The rest of the push is read and dropped until END.
      if (this.#deps.logger.debugEnabled) this.#deps.logger.debug('Push dropped', { err: messageOf(err), fqdn: this.fqdn, channel: true });
      this.#discarding = true;
      this.#wasRelayed = true;
      this.#socket.resume();
      return this.#next();
    }
    this.#deps.logger.warn('Error pushing', { err: messageOf(err), fqdn: this.fqdn, channel: true });
    // The scrape fails with the relay's reason, not as a channel that merely closed.
    this.#failScrape(
      codeOf(err) === ERROR_CODES.WIRE_BODY_TOO_LARGE
        ? new PushProxError(ERROR_CODES.PUSH_ABORTED, this.#tooLargeText(messageOf(err)))
        : new PushProxError(ERROR_CODES.SCRAPE_CANCELLED, `the client's response cannot be relayed: ${messageOf(err)}`),
    );
    this.close(`Error pushing: ${messageOf(err)}`);
  };

  /** The client gave up the current exchange (ABORT): fail its scrape with the reason, then wait for the next. */
  #abort(payload: Buffer): void {
    this.#ended = true;
    const reason = payload.subarray(0, MAX_ABORT_REASON_BYTES).toString('utf8');
    const err = new PushProxError(ERROR_CODES.PUSH_ABORTED, reason === '' ? 'the client gave up its response' : reason);
    this.#aborted = err;
    this.#held = [];
    this.#deps.logger.warn('Push aborted by the client', { err: err.message, fqdn: this.fqdn, scrape_id: this.#jobId, channel: true });
    const body = this.#body;
    if (this.#wasRelayed) return this.#next();
    if (body === undefined) return this.#relayFailed(err);
    // The relay fails with `err` and #relayFailed goes on. The socket may have been paused for
    // the relay's backpressure: nothing reads the body now, so it reads on.
    body.destroy(err);
    this.#socket.resume();
  }

  #tooLargeText(detail: string): string {
    return `pushed response exceeds --push.max-body-size (${this.#deps.maxBodyBytes} bytes): ${detail}`;
  }

  /** Fails the scrape of the current exchange with `err`, unless a response to it is already under way. */
  #failScrape(err: PushProxError): void {
    if (this.#jobId !== undefined) this.#deps.coordinator.abandon(this.#jobId, err);
  }

  end(reason: PollEndReason): void {
    this.#ticket = undefined;
    if (reason === 'idle') return this.wait();
    this.close(reason === 'expired' ? 'poll expired: more polls for this FQDN than --poll.max-per-fqdn' : 'proxy is shutting down');
  }

  /** Sends ERROR with `reason` (if given) and ends the channel. */
  close(reason?: string): void {
    if (this.#state === 'closed') return;
    this.#stop(`channel closed${reason ? `: ${reason}` : ''}`, reason ?? 'the client ended it');
    if (reason !== undefined && this.#socket.writable) this.#socket.write(encodeFrame(FRAME.ERROR, Buffer.from(reason)));
    this.#socket.end();
    // Read on (the stopped reader drops it all) so the peer's FIN is seen and the socket freed at
    // once: one paused by a relay's backpressure would otherwise hold its descriptor until the cut.
    this.#socket.resume();
    // A peer that does not close its side in time is cut.
    setTimeout(() => this.#socket.destroy(), 5_000).unref();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  /**
   * The proxy is going away: tells the client to reconnect (RECONNECT with
   * `spread`), then ends the channel once its exchange, if any, is done (as
   * after the client's CLOSE), so a scrape under way is still answered.
   */
  handover(spread: Buffer): void {
    if (this.#state === 'closed') return;
    this.#write(encodeFrame(FRAME.RECONNECT, spread));
    this.#closeAsked = true;
    if (this.#state === 'waiting') this.close();
  }

  ping(): void {
    this.#write(encodeFrame(FRAME.PING));
  }

  #write(frame: Buffer): void {
    this.sentAt = Date.now();
    this.#socket.write(frame);
  }

  #onData(bytes: Buffer): void {
    if (this.#state !== 'busy' || this.#ended) return this.close('expected DATA only in answer to a REQUEST');
    this.#bytes += bytes.length;
    if (this.#bytes > this.#deps.maxBodyBytes) {
      // The scrape fails now with the reason; a response already under way (streamed) is cut.
      const text = this.#tooLargeText(`${this.#bytes} bytes arrived and it had not ended`);
      this.#failScrape(new PushProxError(ERROR_CODES.PUSH_ABORTED, text));
      return this.close(text);
    }
    if (this.#discarding) return;
    if (this.#body === undefined && this.#bytes <= WHOLE_PUSH_BYTES) {
      // A slice of the chunk read: Node reads every chunk into a buffer of its own, so it stays as it is.
      this.#held.push(bytes);
      return;
    }
    const body = this.#body ?? this.#stream();
    if (!body.push(bytes)) this.#socket.pause();
  }

  #onFrame(type: FrameType, payload: Buffer): void {
    if (type === FRAME.PING) this.#write(encodeFrame(FRAME.PONG));
    else if (type === FRAME.CLOSE) {
      this.#closeAsked = true;
      if (this.#state === 'waiting') this.close();
    } else if (type === FRAME.END) {
      if (this.#state !== 'busy' || this.#ended) return this.close('expected END only after a REQUEST');
      this.#ended = true;
      if (this.#body) {
        this.#body.push(null);
        // Invariant: after END the socket reads, whatever the relay's backpressure did. A
        // DATA in the same read may have paused it, and an ended body never asks for more:
        // left paused, the channel would take the next scrape and never read its push.
        // No DATA may come before the next REQUEST, so nothing needs holding back.
        this.#socket.resume();
        return this.#next();
      }
      const held = this.#held;
      this.#held = [];
      relayWholePushed(held, this.#identity, this.#deps).then(this.#relayed, this.#relayFailed);
    } else if (type === FRAME.ABORT) {
      if (this.#state !== 'busy' || this.#ended) return this.close('expected ABORT only in answer to a REQUEST, before END');
      this.#abort(payload);
    }
  }

  /** After END and the relay: wait for the next scrape (or end, if the client asked). */
  #next(): void {
    if (this.#state !== 'busy' || !this.#ended || !this.#wasRelayed) return;
    this.#body = undefined;
    this.#jobId = undefined;
    this.#state = 'waiting';
    if (this.#closeAsked) return this.close();
    this.wait();
  }

  #closed(): void {
    if (this.#state !== 'closed') this.#stop('channel closed by the client', 'its connection closed');
    this.#onClosed(this);
  }

  /**
   * Ends every part of the exchange: no more frames, no poll, the relayed body
   * fails with `bodyError`, and a scrape handed out here and not yet being
   * answered fails now (`why`), not at its deadline.
   */
  #stop(bodyError: string, why: string): void {
    this.#state = 'closed';
    this.#reader.stop();
    this.#ticket?.cancel();
    this.#ticket = undefined;
    this.#body?.destroy(new Error(bodyError));
    this.#held = [];
    const id = this.#jobId;
    this.#jobId = undefined;
    if (id === undefined) return;
    this.#deps.coordinator.abandon(
      id,
      new PushProxError(ERROR_CODES.SCRAPE_CANCELLED, `the client's channel closed before it answered (${why})`),
    );
  }
}
