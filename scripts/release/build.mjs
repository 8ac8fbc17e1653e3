#!/usr/bin/env node
// `npm run release`: every release artifact into release/, from a clean
// clone after `npm ci`:
//   pushprox-proxy, pushprox-client    single executables (linux-x64)
//   pushprox-proxy-linux-arm64,
//   pushprox-client-linux-arm64        the same for linux-arm64
//   pushprox-client.exe                the client for windows-x64
//   pushprox-ts_<version>_amd64.deb,
//   pushprox-ts_<version>_arm64.deb    both programs, with systemd units (dpkg-deb)
//   pushprox-ts-<version>.tgz          npm package of the bundles (npm pack)
//   SHA256SUMS                         of all the above
// All executables are made from the same bundles and the Node.js version
// pinned in targets.mjs, whose builds npm fetches (once, into
// .cache/node-builds/; verified on every use). Needs npm, tar, strip and
// readelf (binutils), aarch64-linux-gnu-strip (binutils-aarch64-linux-gnu),
// dpkg-deb and dpkg-shlibdeps (dpkg-dev), a linux-x64 machine. Flags:
// --skip-tsc when the workspace was just built; --fast compresses the .debs
// with gzip -1 instead of xz -6 (2 s instead of minutes each, 60% larger; the
// same files inside); --out DIR writes to DIR instead of release/ (the release test's).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleProgram, PROGRAMS } from './bundle.mjs';
import { loaderSource, produceCodeCache } from './code-cache.mjs';
import { bundledPackages } from './copyright.mjs';
import { buildDeb, crossDepends, FAST_DEB_COMPRESSION, shlibsDepends } from './deb.mjs';
import { buildNpmPackage } from './npm-package.mjs';
import { buildExecutable, prepareBlob, run } from './sea.mjs';
import { extractNode, nodeTarball, NODE_VERSION, TARGETS } from './targets.mjs';

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
    throw new Error(`expected linux-x64 (the linux-x64 node build prepares every executable's blob), got ${process.platform}-${process.arch}`);
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
    const nodes = {};
    for (const target of TARGETS) {
      nodes[target.name] = extractNode(target, nodeTarball(target, path.join(root, '.cache/node-builds')), path.join(workDir, 'node'));
    }
    log(`node ${NODE_VERSION} for ${TARGETS.map((t) => t.name).join(', ')} (integrity checked)`);
    const bundles = {};
    const metafiles = [];
    for (const program of Object.keys(PROGRAMS)) {
      bundles[program] = path.join(workDir, `${program}.cjs`);
      metafiles.push(await bundleProgram(root, program, bundles[program]));
      log(`${program}: bundle ${statSync(bundles[program]).size} bytes`);
    }
    /** target name -> program -> executable */
    const executables = {};
    for (const target of TARGETS) {
      executables[target.name] = {};
      for (const program of target.programs) {
        const blob = path.join(workDir, `${program}${target.codeCache ? '.cached' : ''}.blob`);
        const cacheRun = target.codeCache ? PROGRAMS[program].codeCacheRun : undefined;
        if (!existsSync(blob) && cacheRun) {
          const loader = path.join(workDir, 'sea-loader.cjs');
          const cache = path.join(workDir, `${program}.code-cache`);
          writeFileSync(loader, loaderSource());
          produceCodeCache({ node: nodes['linux-x64'], bundle: bundles[program], out: cache, args: cacheRun, workDir });
          log(`${program}: code cache after a run, ${statSync(cache).size} bytes`);
          prepareBlob({ node: nodes['linux-x64'], bundle: bundles[program], blob, loader, cache });
        } else if (!existsSync(blob)) {
          prepareBlob({ node: nodes['linux-x64'], bundle: bundles[program], blob, codeCache: target.codeCache });
        }
        const outfile = path.join(outDir, target.artifact(program));
        buildExecutable({ root, node: nodes[target.name], blob, outfile, strip: target.strip, pe: target.pe });
        executables[target.name][program] = outfile;
        log(`${path.basename(outfile)}: executable ${statSync(outfile).size} bytes`);
      }
    }
    const bundled = bundledPackages(root, metafiles);
    const compression = process.argv.includes('--fast') ? FAST_DEB_COMPRESSION : undefined;
    const x64 = executables['linux-x64'];
    const amd64Depends = shlibsDepends(workDir, Object.values(x64));
    for (const target of TARGETS.filter((t) => t.deb !== undefined)) {
      const own = executables[target.name];
      const depends = target.deb === 'amd64' ? amd64Depends : crossDepends(amd64Depends, Object.keys(own).map((p) => [x64[p], own[p]]));
      const deb = buildDeb({ root, version, arch: target.deb, depends, executables: own, outDir, workDir, bundled, compression });
      log(`${path.basename(deb)}: ${statSync(deb).size} bytes`);
    }
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
