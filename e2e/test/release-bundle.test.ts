import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { run } from '../src/run.js';

/**
 * What the release bundles (scripts/release/bundle.mjs) change for start-up
 * and memory, held to the unbundled programs: a printable-ASCII fast path in
 * front of every copy of string-width (scripts/release/string-width.mjs),
 * checked against the real modules, and a whitespace-minified, ASCII-only
 * script; the bundled programs print the same help and usage errors; and the
 * code cache made after a run (scripts/release/code-cache.mjs).
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PRINTABLE_ASCII = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i));

/** Every string-width directory in node_modules, nested copies included. */
function stringWidthCopies(dir = path.join(ROOT, 'node_modules'), depth = 0): string[] {
  const found: string[] = [];
  if (!existsSync(dir) || depth > 3) return found;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const at = path.join(dir, entry.name);
    if (entry.name === 'string-width') found.push(at);
    if (entry.name.startsWith('@')) found.push(...stringWidthCopies(at, depth));
    else found.push(...stringWidthCopies(path.join(at, 'node_modules'), depth + 1));
  }
  return found;
}

interface EsbuildLike {
  build(options: Record<string, unknown>): Promise<unknown>;
}

async function importRelease<T>(file: string): Promise<T> {
  return (await import(pathToFileURL(path.join(ROOT, 'scripts/release', file)).href)) as T;
}

test('every copy of string-width gives each printable ASCII character width 1 and such strings their length (the fast path relies on it)', async () => {
  const copies = stringWidthCopies();
  assert.ok(copies.length >= 1, 'expected string-width in node_modules (yargs uses it)');
  for (const dir of copies) {
    const { default: stringWidth } = (await import(pathToFileURL(path.join(dir, 'index.js')).href)) as { default: (s: string) => number };
    for (const c of PRINTABLE_ASCII) assert.equal(stringWidth(c), 1, `${dir}: ${JSON.stringify(c)}`);
    for (const s of ['', ' ', PRINTABLE_ASCII.join(''), '--proxy-url=<url>  [string] [default: "http://a:8080/"]', '#*0123456789', '1#', ':-) <3']) {
      assert.equal(stringWidth(s), s.length, `${dir}: ${JSON.stringify(s)}`);
    }
  }
});

describe('the bundled string-width', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'pushprox-string-width-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('answers as the real module for every kind of text, and loads it only for text that is not printable ASCII', async () => {
    const esbuild = (await import(pathToFileURL(path.join(ROOT, 'node_modules/esbuild/lib/main.js')).href)) as EsbuildLike;
    const { asciiStringWidthPlugin } = await importRelease<{ asciiStringWidthPlugin: () => unknown }>('string-width.mjs');
    const samples = ['', 'plain', PRINTABLE_ASCII.join(''), '中文', 'a👍b', '\u001b[31mred\u001b[0m', 'tab\there', 'e\u0301', '\u200b', 'ｶﾞ', '1\ufe0f\u20e3', 'line\nbreak', '\u00a0nbsp'];
    const entry = `
import stringWidth from 'string-width';
let segmenters = 0;
const Segmenter = Intl.Segmenter;
Intl.Segmenter = class extends Segmenter { constructor(...a) { super(...a); segmenters++; } };
const ascii = ${JSON.stringify(PRINTABLE_ASCII)}.map((c) => stringWidth(c));
const segmentersAfterAscii = segmenters;
const samples = ${JSON.stringify(samples)};
process.stdout.write(JSON.stringify({ ascii, segmentersAfterAscii, ours: samples.map((s) => stringWidth(s)), options: stringWidth('±', { ambiguousIsNarrow: false }), notString: stringWidth(undefined), segmenters }));
`;
    const outfile = path.join(dir, 'entry.cjs');
    await esbuild.build({ stdin: { contents: entry, resolveDir: ROOT, loader: 'js' }, outfile, bundle: true, platform: 'node', format: 'cjs', logLevel: 'error', plugins: [asciiStringWidthPlugin()] });
    const ran = await run(process.execPath, [outfile]);
    assert.equal(ran.code, 0, ran.stderr);
    const got = JSON.parse(ran.stdout) as { ascii: number[]; segmentersAfterAscii: number; ours: number[]; options: number; notString: number; segmenters: number };
    const { default: realWidth } = (await import(pathToFileURL(path.join(ROOT, 'node_modules/string-width/index.js')).href)) as {
      default: (s: unknown, o?: object) => number;
    };
    assert.deepEqual(got.ascii, PRINTABLE_ASCII.map(() => 1));
    assert.equal(got.segmentersAfterAscii, 0, 'printable ASCII alone does not evaluate the real module (its Intl.Segmenter)');
    assert.deepEqual(got.ours, samples.map((s) => realWidth(s)), 'the same widths as the real module');
    assert.equal(got.options, realWidth('±', { ambiguousIsNarrow: false }), 'options reach the real module');
    assert.equal(got.notString, realWidth(undefined));
    assert.ok(got.segmenters >= 1, 'text that is not printable ASCII evaluated the real module');
  });

  test('the bundled programs are ASCII-only scripts and print the same help and usage errors as the unbundled ones, for every program and command', async () => {
    const { bundleProgram } = await importRelease<{ bundleProgram: (root: string, name: string, outfile: string) => Promise<unknown> }>('bundle.mjs');
    const cases: Record<string, { bin: string; argvs: string[][] }> = {
      'pushprox-client': {
        bin: 'packages/client/bin/pushprox-client.js',
        argvs: [['--help'], ['enroll', '--help'], ['--no-such-flag'], ['--scrape.concurrency=0', '--proxy-url=http://127.0.0.1:1/']],
      },
      'pushprox-proxy': { bin: 'packages/proxy/bin/pushprox-proxy.js', argvs: [['--help'], ['pki', '--help'], ['pki', 'init', '--help'], ['pki', 'issue', '--help'], ['--no-such-flag']] },
    };
    for (const [name, { bin, argvs }] of Object.entries(cases)) {
      const bundle = path.join(dir, `${name}.cjs`);
      await bundleProgram(ROOT, name, bundle);
      const text = readFileSync(bundle, 'latin1');
      assert.doesNotMatch(text, /[^\x00-\x7f]/, `${name}: ASCII only, so that V8 holds the source as one byte per character`);
      for (const argv of argvs) {
        const [bundled, unbundled] = await Promise.all([run(process.execPath, [bundle, ...argv]), run(process.execPath, [path.join(ROOT, bin), ...argv])]);
        assert.ok(unbundled.stdout.length + unbundled.stderr.length > 40, `${name} ${argv.join(' ')}: expected help or an error, got ${unbundled.stdout}${unbundled.stderr}`);
        assert.deepEqual(bundled, unbundled, `${name} ${argv.join(' ')}`);
      }
    }
  });
});

describe('the code cache made after a run', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'pushprox-code-cache-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  interface CodeCache {
    produceCodeCache(o: { node: string; bundle: string; out: string; args: string[]; workDir: string }): void;
    loaderSource(): string;
  }

  test('is accepted by a fresh process although the program set its V8 flags, and the loader runs the program with it', async () => {
    const { produceCodeCache, loaderSource } = await importRelease<CodeCache>('code-cache.mjs');
    const bundle = path.join(dir, 'program.cjs');
    // As the client does at start: its own V8 flags, then work; the exit code is not the producer's concern.
    writeFileSync(
      bundle,
      `#!/usr/bin/env node\nrequire('node:v8').setFlagsFromString('--semi-space-growth-factor=1');\nrequire('node:v8').setFlagsFromString('--always-sparkplug');\nfunction work(n) { let s = 0; for (let i = 0; i < n; i++) s += i; return s; }\nconsole.log('ran', work(Number(process.argv[2])), process.argv.slice(2).join(' '));\nprocess.exitCode = 3;\n`,
    );
    const out = path.join(dir, 'program.cache');
    produceCodeCache({ node: process.execPath, bundle, out, args: ['10', 'x'], workDir: dir });
    assert.ok(readFileSync(out).length > 0);
    // The loader, outside an executable: node:sea's getAsset answers from files here.
    const loader = loaderSource().replace("const { getAsset } = require('node:sea');", `const getAsset = (name, enc) => { const b = require('node:fs').readFileSync(require('node:path').join(${JSON.stringify(dir)}, name === 'bundle.cjs' ? 'program.cjs' : 'program.cache')); return enc ? b.toString(enc) : b.buffer.slice(b.byteOffset, b.byteOffset + b.length); };`);
    assert.notEqual(loader, loaderSource(), 'the loader reads its assets with node:sea getAsset');
    writeFileSync(path.join(dir, 'loader.cjs'), loader.replace('script.runInThisContext()', "if (script.cachedDataRejected) throw new Error('rejected');\nscript.runInThisContext()"));
    const ran = await run(process.execPath, [path.join(dir, 'loader.cjs'), '4', 'y']);
    assert.deepEqual(ran, { code: 3, stdout: 'ran 6 4 y\n', stderr: '' });
  });

  test('the build refuses a cache that a fresh process would reject (a V8 flag the producer does not set back)', async () => {
    const { produceCodeCache } = await importRelease<CodeCache>('code-cache.mjs');
    const bundle = path.join(dir, 'flagged.cjs');
    writeFileSync(bundle, `require('node:v8').setFlagsFromString('--max-lazy');\nconsole.log('ran');\n`);
    assert.throws(
      () => produceCodeCache({ node: process.execPath, bundle, out: path.join(dir, 'flagged.cache'), args: [], workDir: dir }),
      /expected V8 to accept it in a fresh process, got rejected/,
    );
  });
});
