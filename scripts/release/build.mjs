#!/usr/bin/env node
// `npm run release`: every release artifact into release/, from a clean
// clone after `npm ci`:
//   pushprox-proxy, pushprox-client    single executables (linux-x64)
//   pushprox-ts_<version>_amd64.deb    both, with systemd units (dpkg-deb)
//   pushprox-ts-<version>.tgz          npm package of the bundles (npm pack)
//   SHA256SUMS                         of all the above
// Needs node (the binary the executables are made from), strip (binutils),
// dpkg-deb and dpkg-shlibdeps (dpkg-dev), npm. Flags: --skip-tsc when the
// workspace was just built; --fast compresses the .deb with xz -1 instead of
// -6 (seconds instead of minutes, 15% larger; the same files inside);
// --out DIR writes to DIR instead of release/ (the release test's).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleProgram, PROGRAMS } from './bundle.mjs';
import { bundledPackages } from './copyright.mjs';
import { buildDeb } from './deb.mjs';
import { buildNpmPackage } from './npm-package.mjs';
import { buildExecutable, run } from './sea.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The value of `--name VALUE`, or `fallback`. */
function flagValue(name, fallback) {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const value = process.argv[i + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`${name}: expected a value, got ${value ?? 'nothing'}`);
  return value;
}

function sha256(file) {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function log(message) {
  process.stdout.write(`release: ${message}\n`);
}

async function main() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`expected linux-x64 (the executables are copies of this node), got ${process.platform}-${process.arch}`);
  }
  const outDir = path.resolve(flagValue('--out', path.join(root, 'release')));
  const version = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version;
  if (!process.argv.includes('--skip-tsc')) {
    log('tsc -b');
    run(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-b'], { cwd: root, stdio: 'inherit' });
  }
  const defaultOut = outDir === path.join(root, 'release');
  if (defaultOut) rmSync(outDir, { recursive: true, force: true });
  else if (existsSync(outDir) && readdirSync(outDir).length > 0) throw new Error(`--out: expected a new or empty directory, got ${outDir}`);
  mkdirSync(outDir, { recursive: true });
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'pushprox-release-'));
  try {
    const bundles = {};
    const executables = {};
    const metafiles = [];
    for (const program of Object.keys(PROGRAMS)) {
      const bundle = path.join(workDir, `${program}.cjs`);
      metafiles.push(await bundleProgram(root, program, bundle));
      bundles[program] = bundle;
      log(`${program}: bundle ${statSync(bundle).size} bytes`);
      executables[program] = path.join(outDir, program);
      buildExecutable({ root, bundle, outfile: executables[program], workDir });
      log(`${program}: executable ${statSync(executables[program]).size} bytes`);
    }
    const bundled = bundledPackages(root, metafiles);
    const xzLevel = process.argv.includes('--fast') ? 1 : 6;
    const deb = buildDeb({ root, version, executables, outDir, workDir, bundled, xzLevel });
    log(`${path.basename(deb)}: ${statSync(deb).size} bytes`);
    const tgz = buildNpmPackage({ root, version, bundles, outDir, workDir, bundled });
    log(`${path.basename(tgz)}: ${statSync(tgz).size} bytes`);

    const artifacts = readdirSync(outDir).filter((f) => f !== 'SHA256SUMS').sort();
    writeFileSync(path.join(outDir, 'SHA256SUMS'), artifacts.map((f) => `${sha256(path.join(outDir, f))}  ${f}\n`).join(''));
    log(`SHA256SUMS: ${artifacts.join(', ')}`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`release: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
