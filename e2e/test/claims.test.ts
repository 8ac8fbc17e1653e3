import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * docs/claims.md maps every documented promise to the tests that prove it. This checks
 * the table against the tree: every named test file exists, every quoted name is part of
 * a test declared in that file, and every source path a row names exists. A renamed or
 * deleted test therefore fails here instead of leaving a claim unproven.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLAIMS = 'docs/claims.md';

export interface ClaimRow {
  readonly line: number;
  readonly id: string;
  readonly promisedIn: string;
  readonly tests: ReadonlyArray<{ readonly file: string; readonly names: readonly string[] }>;
  readonly condition: string;
}

/** The rows of every table whose header is `| # | claim | promised in | tests | condition |`. */
export function parseClaims(text: string): ClaimRow[] {
  const rows: ClaimRow[] = [];
  let inTable = false;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line.startsWith('|')) {
      inTable = false;
      continue;
    }
    const cells = line.slice(1, line.endsWith('|') ? -1 : undefined).split('|').map((c) => c.trim());
    if (cells[0] === '#' && cells[3] === 'tests') {
      inTable = true;
      continue;
    }
    if (!inTable || /^-+$/.test(cells[0] ?? '')) continue;
    if (cells.length !== 5) throw new Error(`${CLAIMS}:${i + 1}: expected 5 cells (#, claim, promised in, tests, condition), got ${cells.length}`);
    rows.push({ line: i + 1, id: cells[0]!, promisedIn: cells[2]!, tests: parseTests(cells[3]!, i + 1), condition: cells[4]! });
  }
  return rows;
}

/** "`a.test.ts` "name" "name"; `b.test.ts` "name"" → files with the quoted names after each. */
function parseTests(cell: string, line: number): ClaimRow['tests'] {
  const out: Array<{ file: string; names: string[] }> = [];
  const token = /`([^`]+)`|"([^"]+)"/g;
  for (const m of cell.matchAll(token)) {
    if (m[1] !== undefined) out.push({ file: m[1], names: [] });
    else if (out.length === 0) throw new Error(`${CLAIMS}:${line}: the test name "${m[2]}" comes before any test file`);
    else out.at(-1)!.names.push(m[2]!);
  }
  return out;
}

/** Names of the tests declared in a test source: the first argument of each test(...) call. */
export function declaredTests(source: string): string[] {
  const names: string[] = [];
  const decl = /\btest\(\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/gs;
  for (const m of source.matchAll(decl)) names.push(m[2]!.replace(/\\(.)/g, '$1'));
  return names;
}

/** Repository paths in backticks (with a file extension or ending in .md), without an #anchor. */
function namedPaths(cell: string): string[] {
  return [...cell.matchAll(/`([^`\s]+)`/g)]
    .map((m) => m[1]!.replace(/#.*$/, ''))
    .filter((p) => /^(packages|e2e|docs|scripts|examples)\/|^[A-Z]+\.md$/.test(p));
}

test('docs/claims.md parses: every row names a test file and at least one test in it', () => {
  const rows = parseClaims(readFileSync(path.join(ROOT, CLAIMS), 'utf8'));
  assert.ok(rows.length >= 40, `expected the claims table to have rows, got ${rows.length}`);
  const ids = new Set<string>();
  for (const row of rows) {
    assert.ok(!ids.has(row.id), `${CLAIMS}:${row.line}: claim # ${row.id} appears twice`);
    ids.add(row.id);
    assert.ok(row.tests.length > 0, `${CLAIMS}:${row.line}: claim ${row.id} names no test file`);
    for (const t of row.tests) {
      assert.match(t.file, /\.test\.ts$/, `${CLAIMS}:${row.line}: expected a test file (*.test.ts), got ${JSON.stringify(t.file)}`);
      assert.ok(t.names.length > 0, `${CLAIMS}:${row.line}: claim ${row.id} names ${t.file} but no test in it`);
    }
    assert.ok(row.condition !== '', `${CLAIMS}:${row.line}: claim ${row.id} names no condition`);
  }
});

test('every test docs/claims.md names exists: the file, and a test declared in it whose name contains the quoted text', () => {
  const rows = parseClaims(readFileSync(path.join(ROOT, CLAIMS), 'utf8'));
  const missing: string[] = [];
  const cache = new Map<string, string[]>();
  for (const row of rows) {
    for (const t of row.tests) {
      const file = path.join(ROOT, t.file);
      if (!existsSync(file)) {
        missing.push(`${CLAIMS}:${row.line}: claim ${row.id}: no test file ${t.file}`);
        continue;
      }
      let declared = cache.get(file);
      if (declared === undefined) cache.set(file, (declared = declaredTests(readFileSync(file, 'utf8'))));
      for (const name of t.names) {
        if (!declared.some((d) => d.includes(name))) missing.push(`${CLAIMS}:${row.line}: claim ${row.id}: no test in ${t.file} whose name contains "${name}"`);
      }
    }
  }
  assert.deepEqual(missing, [], `expected every named test to exist:\n${missing.join('\n')}`);
});

test('every document and source path docs/claims.md names exists', () => {
  const rows = parseClaims(readFileSync(path.join(ROOT, CLAIMS), 'utf8'));
  const missing: string[] = [];
  for (const row of rows) {
    for (const p of [...namedPaths(row.promisedIn), ...namedPaths(row.condition)]) {
      if (!existsSync(path.join(ROOT, p))) missing.push(`${CLAIMS}:${row.line}: claim ${row.id}: ${p} does not exist`);
    }
  }
  assert.deepEqual(missing, [], `expected every named path to exist:\n${missing.join('\n')}`);
});

test('the checker catches a missing test file, a test name not declared, and a name before its file', () => {
  const table = (tests: string) => `| # | claim | promised in | tests | condition |\n|---|---|---|---|---|\n| 1 | c | \`README.md\` | ${tests} | x |\n`;
  const [row] = parseClaims(table('`e2e/test/claims.test.ts` "the checker catches"; `e2e/test/nope.test.ts` "x"'));
  assert.deepEqual(row!.tests, [
    { file: 'e2e/test/claims.test.ts', names: ['the checker catches'] },
    { file: 'e2e/test/nope.test.ts', names: ['x'] },
  ]);
  assert.equal(existsSync(path.join(ROOT, row!.tests[1]!.file)), false);
  const declared = declaredTests(readFileSync(path.join(ROOT, 'e2e/test/claims.test.ts'), 'utf8'));
  assert.ok(declared.some((d) => d.includes('the checker catches')));
  assert.ok(!declared.some((d) => d.includes('a test nobody wrote')));
  assert.deepEqual(declaredTests("test('a \\'quoted\\' name', () => {});\nfor (const s of xs) test(`${s} runs`, fn);"), ["a 'quoted' name", '${s} runs']);
  assert.throws(() => parseClaims(table('"orphan" `e2e/test/claims.test.ts`')), /the test name "orphan" comes before any test file/);
  assert.throws(() => parseClaims('| # | claim | promised in | tests | condition |\n|---|---|---|---|---|\n| 1 | only three | cells |\n'), /expected 5 cells/);
});
