import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';

/**
 * HTTP Basic authentication (RFC 7617) against bcrypt hashes, as in
 * exporter-toolkit's basic_auth_users. A bcrypt check costs tens of
 * milliseconds by design, far too much for every scrape, so credentials that
 * passed are remembered by their SHA-256 (never in clear) for `ttlMs`, at most
 * `maxEntries` of them; failures are never cached, so guessing stays slow.
 */
export class BasicAuth {
  readonly #users: ReadonlyMap<string, string>;
  readonly #ok = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;

  constructor(users: ReadonlyMap<string, string>, opts: { ttlMs?: number; maxEntries?: number } = {}) {
    this.#users = users;
    this.#ttlMs = opts.ttlMs ?? 5 * 60_000;
    this.#maxEntries = opts.maxEntries ?? 1024;
  }

  get enabled(): boolean {
    return this.#users.size > 0;
  }

  /** True if `header` (an Authorization or Proxy-Authorization value) names a user with the right password. */
  async check(header: string | undefined): Promise<boolean> {
    if (!this.enabled) return true;
    const m = header === undefined ? null : /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (!m) return false;
    const cacheKey = createHash('sha256').update(m[1]!).digest('base64');
    const at = this.#ok.get(cacheKey);
    if (at !== undefined && Date.now() - at < this.#ttlMs) return true;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    const user = decoded.slice(0, colon);
    const hash = this.#users.get(user);
    // Compare against a dummy hash for unknown users so timing does not reveal which users exist.
    const ok = await bcrypt.compare(decoded.slice(colon + 1), hash ?? DUMMY_HASH);
    if (!ok || hash === undefined) return false;
    this.#ok.delete(cacheKey);
    this.#ok.set(cacheKey, Date.now());
    while (this.#ok.size > this.#maxEntries) this.#ok.delete(this.#ok.keys().next().value as string);
    return true;
  }
}

const DUMMY_HASH = '$2a$10$CwTycUXWue0Thq9StjUM0uJ8.jL9E4/Ov9jiNn3xCWrMN7J5Yv1Wm';
