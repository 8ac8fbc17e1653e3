import fs from 'node:fs';
import { KEY_MODE, writeFileAtomic } from '@pushprox/shared';

/**
 * `--enroll.state-file`: how often each bootstrap token (by SHA-256) has been
 * used, so a single-use token stays used across restarts. JSON:
 *
 *   { "version": 1, "uses": { "<sha256 hex>": 1, ... } }
 *
 * Invariant: consume() checks, counts and writes synchronously, so no other
 * request of this process can run between the check and the write: two
 * concurrent enrollments with a `uses=1` token cannot both win. The file is
 * replaced atomically (temp + rename) with mode 0600; a write that fails
 * leaves the count unchanged and the enrollment refused.
 */
export class EnrollState {
  readonly #file: string;
  readonly #uses: Map<string, number>;

  private constructor(file: string, uses: Map<string, number>) {
    this.#file = file;
    this.#uses = uses;
  }

  /** Reads `file`; a missing file is an empty state, anything unreadable an error naming the file. */
  static load(file: string): EnrollState {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new EnrollState(file, new Map());
      throw new Error(`cannot read --enroll.state-file ${file}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new Error(`--enroll.state-file ${file}: expected JSON, got a parse error: ${(err as Error).message}`);
    }
    const uses = (parsed as { uses?: unknown } | null)?.uses;
    if ((parsed as { version?: unknown } | null)?.version !== 1 || typeof uses !== 'object' || uses === null) {
      throw new Error(`--enroll.state-file ${file}: expected {"version": 1, "uses": {...}}, got ${text.slice(0, 80)}`);
    }
    const map = new Map<string, number>();
    for (const [hash, n] of Object.entries(uses)) {
      if (!/^[0-9a-f]{64}$/.test(hash) || !Number.isInteger(n) || (n as number) < 0) {
        throw new Error(`--enroll.state-file ${file}: expected "<sha256 hex>": <count>, got ${JSON.stringify(hash)}: ${JSON.stringify(n)}`);
      }
      map.set(hash, n as number);
    }
    return new EnrollState(file, map);
  }

  used(hash: string): number {
    return this.#uses.get(hash) ?? 0;
  }

  /** Counts one use of `hash` if fewer than `max` were made (undefined: no limit); false when used up. */
  consume(hash: string, max: number | undefined): boolean {
    const before = this.used(hash);
    if (max !== undefined && before >= max) return false;
    this.#uses.set(hash, before + 1);
    try {
      writeFileAtomic(this.#file, `${JSON.stringify({ version: 1, uses: Object.fromEntries(this.#uses) }, null, 2)}\n`, KEY_MODE);
    } catch (err) {
      this.#uses.set(hash, before);
      throw new Error(`cannot write --enroll.state-file ${this.#file}: ${(err as Error).message}`);
    }
    return true;
  }
}
