import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Counter, Gauge, type Registry } from 'prom-client';
import { ERROR_CODES, PushProxError } from '../protocol/errors.js';
import { silentLogger, type Logger } from '../runtime/log.js';
import { BcryptPool, type BcryptPoolOptions } from './bcrypt-pool.js';
import { FailureLimiter, sourceOf, type FailureLimiterOptions } from './failure-limiter.js';
import { WarnAggregator } from './warn-aggregator.js';
import { sendText } from './respond-text.js';

export interface BasicAuthOptions extends FailureLimiterOptions, BcryptPoolOptions {
  /** Checked user/password pairs remembered, passed and failed each. Default 1024. */
  readonly cacheEntries?: number;
  /** Where refusals are logged (aggregated per source). Default silent. */
  readonly logger?: Logger;
  /** Registry for the refusal metrics; default none. */
  readonly registry?: Registry;
}

export const BASIC_AUTH_CACHE_ENTRIES = 1024;

/** What a check found: the credentials passed, did not, or were not checked at all. */
export type AuthOutcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'denied' }
  | { readonly kind: 'refused'; readonly error: PushProxError; readonly retryAfterS: number };

const OK: AuthOutcome = { kind: 'ok' };
const DENIED: AuthOutcome = { kind: 'denied' };

/**
 * HTTP Basic authentication (RFC 7617) against bcrypt hashes, as in
 * exporter-toolkit's basic_auth_users. A bcrypt check costs tens of ms of
 * CPU by design, so:
 * - as exporter-toolkit, the result of a pair already checked is
 *   remembered under a SHA-256 of the stored hash and the credentials
 *   (never in clear), passes and failures in separate LRUs of
 *   `cacheEntries`, so failures cannot evict a working pair;
 * - the check runs in a worker thread with a bounded queue (BcryptPool):
 *   when full, the request is refused (503, AUTH_BUSY) instead of waiting;
 * - a source that tried `maxFailures` wrong pairs not seen before within
 *   `windowMs` is refused (429, AUTH_THROTTLED) without any check until its
 *   window ends.
 */
export class BasicAuth {
  #users: ReadonlyMap<string, string>;
  readonly #passed = new Map<string, true>();
  readonly #failed = new Map<string, true>();
  readonly #cacheEntries: number;
  readonly #pool: BcryptPool;
  readonly #limiter: FailureLimiter;
  readonly #refusalLog: WarnAggregator;
  readonly #failures: Counter | undefined;
  readonly #checks: Counter | undefined;
  readonly #refused: Counter<'reason'> | undefined;

  constructor(users: ReadonlyMap<string, string>, opts: BasicAuthOptions = {}) {
    this.#users = users;
    this.#cacheEntries = opts.cacheEntries ?? BASIC_AUTH_CACHE_ENTRIES;
    this.#pool = new BcryptPool(opts);
    this.#limiter = new FailureLimiter(opts);
    this.#refusalLog = new WarnAggregator({
      logger: opts.logger ?? silentLogger,
      msg: 'Refused basic auth without checking it: too many failed attempts from this source, or too many checks in progress',
    });
    if (opts.registry && this.enabled) {
      const registers = [opts.registry];
      this.#failures = new Counter({
        name: 'pushprox_basic_auth_failures_total',
        help: 'Basic auth checks that found a wrong user or password.',
        registers,
      });
      this.#checks = new Counter({
        name: 'pushprox_basic_auth_checks_total',
        help: 'bcrypt comparisons run (in a worker thread); a user/password pair already checked is answered from memory.',
        registers,
      });
      this.#refused = new Counter({
        name: 'pushprox_basic_auth_refused_total',
        help: 'Requests refused without checking their basic auth: their source failed too often (throttled, 429) or too many checks were in progress (busy, 503).',
        labelNames: ['reason'],
        registers,
      });
      for (const reason of ['throttled', 'busy']) this.#refused.inc({ reason }, 0);
      const limiter = this.#limiter;
      new Gauge({
        name: 'pushprox_basic_auth_failing_sources',
        help: 'Source addresses (IPv6: /64) with failed basic auth attempts in their current window.',
        registers,
        collect() {
          this.set(limiter.size);
        },
      });
    }
  }

  /**
   * New basic_auth_users from a reloaded web config. The remembered results
   * go too (their keys include the hash, so none could outlive its user, but
   * they would only take room).
   */
  setUsers(users: ReadonlyMap<string, string>): void {
    this.#users = users;
    this.#passed.clear();
    this.#failed.clear();
  }

  get enabled(): boolean {
    return this.#users.size > 0;
  }

  /**
   * Checks `header` (an Authorization or Proxy-Authorization value) of a
   * request from `remoteAddress`. A missing or malformed header is denied
   * without counting as a failure: it is not a guess.
   */
  async check(header: string | undefined, remoteAddress: string | undefined): Promise<AuthOutcome> {
    if (!this.enabled) return OK;
    const m = header === undefined ? null : /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (!m) return DENIED;
    const source = sourceOf(remoteAddress);
    const waitMs = this.#limiter.retryAfterMs(source);
    if (waitMs > 0) {
      return this.#refuse(source, 'throttled', waitMs,
        `too many failed authentication attempts from ${source} (${this.#limiter.maxFailures} in ${this.#limiter.windowMs / 1000} s)`);
    }
    const decoded = Buffer.from(m[1]!, 'base64');
    const colon = decoded.indexOf(0x3a);
    if (colon < 0) return DENIED;
    const user = decoded.subarray(0, colon).toString('utf8');
    const stored = this.#users.get(user);
    // Unknown users are checked against a dummy hash, so timing does not reveal which users exist.
    const hash = stored ?? DUMMY_HASH;
    const key = createHash('sha256').update(hash).update('\n').update(decoded).digest('base64');
    let ok: boolean;
    let checked = false;
    if (this.#passed.has(key)) {
      ok = true;
      remember(this.#passed, key, this.#cacheEntries);
    } else if (this.#failed.has(key)) ok = false;
    else {
      try {
        ok = (await this.#pool.compare(decoded.subarray(colon + 1), hash)) && stored !== undefined;
        this.#checks?.inc();
        checked = true;
      } catch (err) {
        if (err instanceof PushProxError && err.code === ERROR_CODES.AUTH_BUSY) return this.#refuse(source, 'busy', 1000, err.message);
        throw err;
      }
      remember(ok ? this.#passed : this.#failed, key, this.#cacheEntries);
    }
    if (ok) {
      this.#limiter.succeed(source);
      return OK;
    }
    this.#failures?.inc();
    // Only a pair not seen before is a guess: a Prometheus job with a stale
    // password repeats one pair, and must not lock out the other jobs of its server.
    if (checked) this.#limiter.fail(source);
    return DENIED;
  }

  /** Stops the password check worker. */
  close(): void {
    this.#pool.close();
    this.#refusalLog.close();
  }

  #refuse(source: string, reason: 'throttled' | 'busy', waitMs: number, message: string): AuthOutcome {
    this.#refused?.inc({ reason });
    this.#refusalLog.note(source, { reason });
    const code = reason === 'busy' ? ERROR_CODES.AUTH_BUSY : ERROR_CODES.AUTH_THROTTLED;
    return { kind: 'refused', error: new PushProxError(code, message), retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)) };
  }
}

/** Adds `key` as the most recent entry of an LRU of at most `max` entries. */
function remember(lru: Map<string, true>, key: string, max: number): void {
  lru.delete(key);
  lru.set(key, true);
  while (lru.size > max) lru.delete(lru.keys().next().value as string);
}

/** Answers a refused check: 429 or 503 with Retry-After, and why. */
export function sendAuthRefusal(res: ServerResponse, outcome: Extract<AuthOutcome, { kind: 'refused' }>): void {
  const { error, retryAfterS } = outcome;
  sendText(res, error.status, `${error.message}; retry after ${retryAfterS} s`, { 'Retry-After': String(retryAfterS) });
}

const DUMMY_HASH = '$2a$10$CwTycUXWue0Thq9StjUM0uJ8.jL9E4/Ov9jiNn3xCWrMN7J5Yv1Wm';
