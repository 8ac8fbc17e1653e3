// V8's code cache of a program's bundle made after a run, for the linux-x64
// single executables. Node's own `useCodeCache` is made when the script is
// compiled, before it runs, so it holds little beyond the top-level code;
// every function a start runs is compiled again on every start. Here the
// bundle runs once at build time (with `args`, on the pinned Node that the
// executable is made of), the cache is taken when it exits, and the
// executable's main script is a small loader that compiles the bundle, an
// asset of the executable, with that cache (Node's SEA assets, node:sea).
//
// V8 accepts a cache only from the same V8 build with the same flags. The
// programs set V8 flags of their own while they run (the client's
// v8-flags.ts, shared's tuneV8ForRareWork); the producer puts them back to
// their defaults before it takes the cache, and the build checks that a
// fresh process of the pinned Node accepts the cache (it fails if not).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The flags the programs set at run time, with V8's defaults, set back before the cache is taken. */
export const PROGRAM_FLAG_DEFAULTS = Object.freeze(['--no-always-sparkplug', '--semi-space-growth-factor=2']);

/** The asset names in the executable. */
export const ASSETS = Object.freeze({ bundle: 'bundle.cjs', cache: 'bundle.cache' });

/**
 * The function text that turns the bundle (a CommonJS script, with its #!
 * line) into the source compiled with the cache: the loader and the producer
 * must compile the same text, or V8 rejects the cache.
 */
const WRAP = `(src) => '(function (exports, require, module, __filename, __dirname) {' + (src.startsWith('#!') ? '//' + src.slice(2) : src) + '\\n})'`;

/** The executable's main script: compiles the bundle asset with the cache asset and runs it as the main module. */
export function loaderSource() {
  return `"use strict";
// pushprox-ts: runs the program's bundle, an asset of this executable, with V8's code cache
// (scripts/release/code-cache.mjs).
const { getAsset } = require('node:sea');
const { Script } = require('node:vm');
const wrap = ${WRAP};
const script = new Script(wrap(getAsset(${JSON.stringify(ASSETS.bundle)}, 'utf8')), {
  filename: __filename,
  cachedData: Buffer.from(getAsset(${JSON.stringify(ASSETS.cache)})),
});
script.runInThisContext()(exports, require, module, __filename, __dirname);
`;
}

function producerSource() {
  return `"use strict";
const fs = require('node:fs');
const v8 = require('node:v8');
const { Script } = require('node:vm');
const [bundle, out] = process.argv.slice(2, 4);
process.argv.splice(1, 3, bundle);
const wrap = ${WRAP};
const script = new Script(wrap(fs.readFileSync(bundle, 'utf8')), { filename: bundle });
process.on('exit', () => {
  for (const flag of ${JSON.stringify(PROGRAM_FLAG_DEFAULTS)}) v8.setFlagsFromString(flag);
  fs.writeFileSync(out, script.createCachedData());
});
script.runInThisContext()(exports, require, module, bundle, require('node:path').dirname(bundle));
`;
}

function checkerSource() {
  return `"use strict";
const fs = require('node:fs');
const { Script } = require('node:vm');
const wrap = ${WRAP};
const script = new Script(wrap(fs.readFileSync(process.argv[2], 'utf8')), { cachedData: fs.readFileSync(process.argv[3]) });
process.stdout.write(script.cachedDataRejected ? 'rejected' : 'accepted');
`;
}

/**
 * Runs `bundle` with `args` on `node` (the pinned linux-x64 build) in
 * `workDir`, writes the cache taken at its exit to `out` and checks that a
 * fresh process accepts it. The run's exit code is not checked (a run that
 * stops at a configuration error is a complete start-up); a missing or
 * rejected cache fails the build, with the run's output.
 */
export function produceCodeCache({ node, bundle, out, args, workDir }) {
  const producer = path.join(workDir, 'code-cache-producer.cjs');
  const checker = path.join(workDir, 'code-cache-checker.cjs');
  writeFileSync(producer, producerSource());
  writeFileSync(checker, checkerSource());
  rmSync(out, { force: true });
  const ran = spawnSync(node, [producer, bundle, out, ...args], { encoding: 'utf8', timeout: 60_000, cwd: workDir });
  if (!existsSync(out) || readFileSync(out).length === 0) {
    throw new Error(`code cache of ${path.basename(bundle)}: expected a cache after the run, got none (exit ${ran.status ?? ran.signal ?? ran.error?.message})\n${ran.stdout}${ran.stderr}`);
  }
  const checked = spawnSync(node, [checker, bundle, out], { encoding: 'utf8', timeout: 60_000 });
  if (checked.stdout !== 'accepted') {
    throw new Error(
      `code cache of ${path.basename(bundle)}: expected V8 to accept it in a fresh process, got ${checked.stdout || checked.stderr} (does the program set a V8 flag missing from PROGRAM_FLAG_DEFAULTS?)`,
    );
  }
}
