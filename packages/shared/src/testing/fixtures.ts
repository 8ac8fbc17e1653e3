import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

/**
 * One line saying where the captures were looked for and how to point at
 * them, instead of a raw ENOENT with a stack (fixtureNames runs at a test
 * file's top level, where the runner prints whatever the import threw).
 */
export function missingFixturesMessage(dir: string, fromEnv: boolean): string {
  return fromEnv
    ? `wire fixtures not found: PUSHPROX_FIXTURES=${dir} is not a directory; point it at the pushprox-wire captures (*.http)`
    : `wire fixtures not found at ${dir} (../shared/fixtures/pushprox-wire beside the project root); ` +
        'set PUSHPROX_FIXTURES=<directory of the *.http captures> to read them from elsewhere';
}

function checkedFixturesDir(): string {
  const dir = fixturesDir();
  if (existsSync(dir)) return dir;
  const err = new Error(missingFixturesMessage(dir, Boolean(process.env['PUSHPROX_FIXTURES'])));
  // The message is the whole report: a stack would bury it.
  err.stack = `Error: ${err.message}`;
  throw err;
}

export function fixtureNames(): string[] {
  return readdirSync(checkedFixturesDir())
    .filter((f) => f.endsWith('.http'))
    .sort();
}

/** Raw bytes of the fixture whose file name starts with `prefix` (e.g. `05a`). */
export function fixture(prefix: string): Buffer {
  const name = fixtureNames().find((f) => f.startsWith(prefix));
  if (!name) throw new Error(`no fixture starting with ${JSON.stringify(prefix)} in ${fixturesDir()}`);
  return readFileSync(path.join(checkedFixturesDir(), name));
}
