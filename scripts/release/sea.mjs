// A Node single executable application from one CommonJS bundle, as Node's
// SEA documentation describes: a preparation blob from
// `node --experimental-sea-config`, injected with postject into a copy of
// the target platform's node binary (targets.mjs).
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ASSETS } from './code-cache.mjs';
import { removeAuthenticode } from './pe.mjs';

/** The fuse that tells node a blob was injected (Node's SEA docs). */
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** Runs a command; on a non-zero exit throws with its output. Returns stdout. */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')}: expected exit 0, got ${r.status ?? r.signal}\n${r.stdout}${r.stderr}`);
  }
  return r.stdout;
}

/**
 * Writes the SEA preparation blob of `bundle` (a CommonJS script) to `blob`,
 * prepared by `node` (the pinned linux-x64 build). `codeCache`: V8's compile
 * cache for the main script, a faster start for ~0.5 MB, usable only by the
 * same Node build on the same architecture (so only for linux-x64).
 * `loader`: instead, the blob's main script is the loader at that path and
 * the bundle and `cache` (a code cache made after a run: code-cache.mjs) go
 * in as its assets.
 */
export function prepareBlob({ node, bundle, blob, codeCache, loader, cache }) {
  const config = `${blob}.sea.json`;
  writeFileSync(
    config,
    JSON.stringify({
      main: loader ?? bundle,
      output: blob,
      // The warning would go to stderr on every start of a program that is
      // meant to look like any other binary.
      disableExperimentalSEAWarning: true,
      useCodeCache: loader === undefined && codeCache,
      useSnapshot: false,
      ...(loader !== undefined && { assets: { [ASSETS.bundle]: bundle, [ASSETS.cache]: cache } }),
    }),
  );
  run(node, ['--experimental-sea-config', config]);
  rmSync(config);
}

/**
 * Builds the executable `outfile`: a copy of `node` (the target's Node
 * build) with `blob` injected. ELF: the binary is stripped with `strip` (the
 * target's binutils strip) before the blob goes in (12 MB less; symbols and
 * the compilers' .comment serve only native debuggers); postject's ELF note is
 * added after, so the executable stays stripped. PE (`pe`): the Authenticode
 * signature is removed first (pe.mjs); postject adds the blob as the
 * NODE_SEA_BLOB resource, which is where Node looks on Windows.
 */
export function buildExecutable({ root, node, blob, outfile, strip, pe = false }) {
  rmSync(outfile, { force: true });
  copyFileSync(node, outfile);
  chmodSync(outfile, 0o755);
  if (pe) removeAuthenticode(outfile);
  if (strip) run(strip, ['--strip-all', '--remove-section=.comment', outfile]);
  // postject's ELF library prints warnings about section names on stderr; they are kept for a failure only.
  run(process.execPath, [path.join(root, 'node_modules/postject/dist/cli.js'), outfile, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE]);
}
