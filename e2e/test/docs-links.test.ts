import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Every relative link in the operator documentation (README.md, SECURITY.md,
 * BENCHMARKS.md, docs/*.md) reaches a file of the repository, and every
 * #anchor a heading (GitHub's slug) or an `<a id>` of the page it names:
 * moving text between pages cannot leave a dead link behind.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PAGES = ['README.md', 'SECURITY.md', 'BENCHMARKS.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** GitHub's heading anchor: lower case, punctuation but `-` and `_` dropped, spaces to `-`. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```$/gm, '');
  const out = new Set<string>();
  for (const m of text.matchAll(/^#{1,6} (.+)$/gm)) out.add(slug(m[1]!));
  for (const m of text.matchAll(/<a id="([^"]+)"/g)) out.add(m[1]!);
  return out;
}

test('every relative link in the docs reaches a file, and every anchor a heading of it', () => {
  const dead: string[] = [];
  let checked = 0;
  for (const page of PAGES) {
    const text = readFileSync(path.join(ROOT, page), 'utf8').replace(/^```[\s\S]*?^```$/gm, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1]!;
      if (/^[a-z]+:/.test(link)) continue;
      checked++;
      const [file, anchor] = link.split('#') as [string, string | undefined];
      const target = file === '' ? path.join(ROOT, page) : path.resolve(path.dirname(path.join(ROOT, page)), file);
      if (!existsSync(target)) dead.push(`${page}: ${link} (no file ${path.relative(ROOT, target)})`);
      else if (anchor !== undefined && target.endsWith('.md') && !anchors(target).has(anchor)) dead.push(`${page}: ${link} (no heading #${anchor})`);
    }
  }
  assert.ok(checked > 20, `links found: ${checked}`);
  assert.deepEqual(dead, [], 'dead links');
});

test('the slug follows GitHub: backticks, dots and parentheses dropped, spaces to dashes', () => {
  assert.equal(slug('Secure setup in five minutes'), 'secure-setup-in-five-minutes');
  assert.equal(slug('pushprox-proxy pki init | issue'), 'pushprox-proxy-pki-init--issue');
  assert.equal(slug('No leaks: `npm run bench -- --only=leak`'), 'no-leaks-npm-run-bench------onlyleak');
});
