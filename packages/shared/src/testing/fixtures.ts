import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/**
 * The upstream wire captures live in `../shared/fixtures/pushprox-wire/`
 * beside the project root; they are read in place, never copied.
 * PUSHPROX_FIXTURES overrides the directory.
 */
export function fixturesDir(): string {
  if (process.env['PUSHPROX_FIXTURES']) return process.env['PUSHPROX_FIXTURES'];
  // dist/src/testing/fixtures.js → project root is five levels up from this file's directory.
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.resolve(here, '..', '..', '..', '..', '..');
  return path.resolve(root, '..', 'shared', 'fixtures', 'pushprox-wire');
}

export function fixtureNames(): string[] {
  return readdirSync(fixturesDir())
    .filter((f) => f.endsWith('.http'))
    .sort();
}

/** Raw bytes of the fixture whose file name starts with `prefix` (e.g. `05a`). */
export function fixture(prefix: string): Buffer {
  const name = fixtureNames().find((f) => f.startsWith(prefix));
  if (!name) throw new Error(`no fixture starting with ${JSON.stringify(prefix)} in ${fixturesDir()}`);
  return readFileSync(path.join(fixturesDir(), name));
}
