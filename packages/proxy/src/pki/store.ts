import fs from 'node:fs';
import path from 'node:path';
import { CERT_MODE, DIR_MODE, KEY_MODE, replaceFiles } from '@pushprox/shared';
import type { CertAndKey } from './ca.js';

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

/** Writes a key (0600) then its certificate (0644); a certificate never exists without its key. */
export function writePair(paths: { cert: string; key: string }, pair: CertAndKey): void {
  replaceFiles([
    { file: paths.key, data: pair.keyPem, mode: KEY_MODE },
    { file: paths.cert, data: pair.certPem, mode: CERT_MODE },
  ]);
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
