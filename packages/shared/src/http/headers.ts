/**
 * An ordered header list that keeps each field's original spelling (so bytes
 * round-trip) and looks names up case-insensitively (RFC 9110 §5.1).
 * Values are stored as received, without the surrounding optional whitespace.
 */
export class WireHeaders {
  readonly #names: string[] = [];
  readonly #values: string[] = [];

  constructor(entries?: Iterable<readonly [string, string]>) {
    if (entries) for (const [n, v] of entries) this.append(n, v);
  }

  get size(): number {
    return this.#names.length;
  }

  append(name: string, value: string): void {
    this.#names.push(name);
    this.#values.push(value);
  }

  /** First value of `name`, or undefined. */
  get(name: string): string | undefined {
    const i = this.#indexOf(name);
    return i < 0 ? undefined : this.#values[i];
  }

  getAll(name: string): string[] {
    const out: string[] = [];
    for (let i = this.#indexOf(name); i >= 0; i = this.#indexOf(name, i + 1)) out.push(this.#values[i]!);
    return out;
  }

  has(name: string): boolean {
    return this.#indexOf(name) >= 0;
  }

  /** Replaces every field called `name` with one, at the first one's place (or the end). */
  set(name: string, value: string): void {
    const i = this.#indexOf(name);
    if (i < 0) {
      this.append(name, value);
      return;
    }
    this.#names[i] = name;
    this.#values[i] = value;
    this.#deleteFrom(name, i + 1);
  }

  delete(name: string): void {
    this.#deleteFrom(name, 0);
  }

  /** Removes every field whose lower-cased name is in `lowerNames`. */
  deleteAll(lowerNames: ReadonlySet<string>): void {
    for (let i = this.#names.length - 1; i >= 0; i--) {
      if (lowerNames.has(this.#names[i]!.toLowerCase())) {
        this.#names.splice(i, 1);
        this.#values.splice(i, 1);
      }
    }
  }

  *entries(): IterableIterator<[string, string]> {
    for (let i = 0; i < this.#names.length; i++) yield [this.#names[i]!, this.#values[i]!];
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  clone(): WireHeaders {
    return new WireHeaders(this.entries());
  }

  /** Flat [name, value, name, value, …] list, the shape node:http's writeHead accepts. */
  toRawArray(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.#names.length; i++) out.push(this.#names[i]!, this.#values[i]!);
    return out;
  }

  #indexOf(name: string, start = 0): number {
    // Lengths first: most names differ in length, and a lookup then allocates no lower-cased copies.
    const names = this.#names;
    let lower: string | undefined;
    for (let i = start; i < names.length; i++) {
      const n = names[i]!;
      if (n.length !== name.length) continue;
      if (n === name) return i;
      lower ??= name.toLowerCase();
      if (n.toLowerCase() === lower) return i;
    }
    return -1;
  }

  #deleteFrom(name: string, start: number): void {
    for (let i = this.#indexOf(name, start); i >= 0; i = this.#indexOf(name, i)) {
      this.#names.splice(i, 1);
      this.#values.splice(i, 1);
    }
  }
}
