import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The source tree's shape (ARCHITECTURE.md): no import cycles, small folders
 * grouped by role, and an ARCHITECTURE.md whose every named path exists.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PACKAGES = ['shared', 'proxy', 'client'].map((p) => path.join(ROOT, 'packages', p, 'src'));
/** Most source files in one folder. */
const MAX_FILES_PER_FOLDER = 12;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative imports of a module (static, type-only and dynamic alike), as .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)'(\.{1,2}\/[^']+)\.js'/gm)) {
    out.push(path.resolve(path.dirname(file), `${m[1]}.ts`));
  }
  return out;
}

/** Every cycle's members (Tarjan's strongly connected components of more than one module, or a self-import). */
function cycles(files: string[]): string[][] {
  const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => files.includes(t))]));
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v)!) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || graph.get(v)!.includes(v)) found.push(scc.map((f) => path.relative(ROOT, f)).sort());
    }
  };
  for (const f of files) if (!idx.has(f)) visit(f);
  return found;
}

test('no source module imports another that imports it back, directly or through others', () => {
  const found = PACKAGES.flatMap((pkg) => {
    const files = sources(pkg);
    assert.ok(files.length > 5, `expected sources in ${pkg}`);
    return cycles(files);
  });
  assert.deepEqual(found, [], 'import cycles');
});

test('the cycle check finds a cycle when there is one', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-cycles-'));
  try {
    writeFileSync(path.join(dir, 'a.ts'), "import { b } from './b.js';\n");
    writeFileSync(path.join(dir, 'b.ts'), "import type { C } from './c.js';\n");
    writeFileSync(path.join(dir, 'c.ts'), "export const c = () => import('./a.js');\n");
    writeFileSync(path.join(dir, 'd.ts'), "import { a } from './a.js';\n");
    const rel = (f: string) => path.relative(ROOT, path.join(dir, f));
    assert.deepEqual(cycles(sources(dir)), [[rel('a.ts'), rel('b.ts'), rel('c.ts')]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(`no source folder holds more than ${MAX_FILES_PER_FOLDER} files`, () => {
  for (const pkg of PACKAGES) {
    const folders = new Map<string, number>();
    for (const f of sources(pkg)) folders.set(path.dirname(f), (folders.get(path.dirname(f)) ?? 0) + 1);
    for (const [folder, n] of folders) {
      assert.ok(n <= MAX_FILES_PER_FOLDER, `${path.relative(ROOT, folder)} holds ${n} source files`);
    }
  }
});

test('every file and folder ARCHITECTURE.md names exists', () => {
  const doc = readFileSync(path.join(ROOT, 'ARCHITECTURE.md'), 'utf8');
  const named = [...doc.matchAll(/`([^`\s]+)`/g)].map((m) => m[1]!).filter((n) => /^(packages|e2e)\/|\.ts$/.test(n));
  assert.ok(named.length >= 40, `expected ARCHITECTURE.md to name its files, found ${named.length}`);
  const everySource = PACKAGES.flatMap(sources).map((f) => path.relative(ROOT, f));
  // A path from the root, or a file or folder named relative to a package's src (`routing/coordinator.ts`, `main.ts`).
  const exists = (n: string): boolean =>
    /^(packages|e2e)\//.test(n) ? existsSync(path.join(ROOT, n)) : everySource.some((f) => f.endsWith(`/src/${n}`) || f.endsWith(`/${n}`));
  assert.deepEqual(named.filter((n) => !exists(n)), []);
});
