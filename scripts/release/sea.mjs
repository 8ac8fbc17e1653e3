// A Node single executable application from one CommonJS bundle, as Node's
// SEA documentation describes: a preparation blob from
// `node --experimental-sea-config`, injected with postject into a copy of
// the node binary that runs this script.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

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
 * Builds the executable `outfile` from `bundle` (a CommonJS script), using
 * `workDir` for the blob. The node binary is stripped before the blob goes
 * in (12 MB less; symbols and the compilers' .comment serve only native
 * debuggers); postject's ELF note is added after, so the executable stays
 * stripped.
 */
export function buildExecutable({ root, bundle, outfile, workDir }) {
  const name = path.basename(outfile);
  const blob = path.join(workDir, `${name}.blob`);
  const config = path.join(workDir, `${name}.sea.json`);
  writeFileSync(
    config,
    JSON.stringify({
      main: bundle,
      output: blob,
      // The warning would go to stderr on every start of a program that is
      // meant to look like any other binary.
      disableExperimentalSEAWarning: true,
      // V8's compile cache for the main script: a faster start for ~0.5 MB.
      useCodeCache: true,
    }),
  );
  run(process.execPath, ['--experimental-sea-config', config]);
  rmSync(outfile, { force: true });
  copyFileSync(process.execPath, outfile);
  chmodSync(outfile, 0o755);
  run('strip', ['--strip-all', '--remove-section=.comment', outfile]);
  // postject's ELF library prints warnings about section names on stderr; they are kept for a failure only.
  run(process.execPath, [path.join(root, 'node_modules/postject/dist/cli.js'), outfile, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE]);
  rmSync(blob);
  rmSync(config);
}
