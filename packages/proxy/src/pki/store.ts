import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { CertAndKey } from './ca.js';

/** Private keys are readable by their owner only; certificates are public. */
export const KEY_MODE = 0o600;
export const CERT_MODE = 0o644;
export const DIR_MODE = 0o700;

export const caPaths = (dir: string) => ({ cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') });
export const serverPaths = (dir: string) => ({ cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') });
export const clientPaths = (dir: string, fqdn: string) => ({
  cert: path.join(dir, 'clients', `${fqdn}.crt`),
  key: path.join(dir, 'clients', `${fqdn}.key`),
});

/** A failure the operator fixes outside this command (exit 1), as opposed to a usage error (exit 2). */
export class PkiError extends Error {
  override name = 'PkiError';
}

/**
 * Creates `dir` owner-only. An existing directory keeps its mode (it may be
 * shared on purpose); its owner is warned when others can enter it.
 */
export function ensurePrivateDir(dir: string, warn: (msg: string) => void): void {
  const created = fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  if (created !== undefined) {
    fs.chmodSync(dir, DIR_MODE); // mkdir's mode is filtered by the umask.
    return;
  }
  const mode = fs.statSync(dir).mode & 0o777;
  if ((mode & 0o077) !== 0) warn(`${dir} has mode ${mode.toString(8).padStart(4, '0')}; 0700 keeps it private`);
}

/**
 * Writes `data` so readers see either the old file or the whole new one: a
 * temp file in the same directory (same filesystem, so rename(2) is atomic),
 * fsynced with its final mode set before the rename makes it visible.
 */
export function writeFileAtomic(file: string, data: string, mode: number): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', mode);
    fs.fchmodSync(fd, mode); // open's mode is filtered by the umask.
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Writes a key (0600) then its certificate (0644); a certificate never exists without its key. */
export function writePair(paths: { cert: string; key: string }, pair: CertAndKey): void {
  writeFileAtomic(paths.key, pair.keyPem, KEY_MODE);
  writeFileAtomic(paths.cert, pair.certPem, CERT_MODE);
}

/** The first of `files` that exists, if any. */
export function firstExisting(files: readonly string[]): string | undefined {
  return files.find((f) => fs.existsSync(f));
}

export function loadCa(dir: string): CertAndKey {
  const p = caPaths(dir);
  const read = (file: string) => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new PkiError(`${file} does not exist; run "pushprox-proxy pki init --pki.dir=${dir} --pki.san=..." first`);
      }
      throw new PkiError(`cannot read ${file}: ${(err as Error).message}`);
    }
  };
  return { certPem: read(p.cert), keyPem: read(p.key) };
}
