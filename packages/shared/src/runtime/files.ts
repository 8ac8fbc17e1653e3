import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Private keys are readable by their owner only; certificates are public. */
export const KEY_MODE = 0o600;
export const CERT_MODE = 0o644;
export const DIR_MODE = 0o700;

export interface FileWrite {
  readonly file: string;
  readonly data: string;
  readonly mode: number;
}

/** A fully written temp file beside `file` with its final mode, ready to be renamed over it. */
function stage({ file, data, mode }: FileWrite): string {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', mode);
    fs.fchmodSync(fd, mode); // open's mode is filtered by the umask.
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    return tmp;
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Replaces files so each reader sees either the old or the whole new file: a
 * temp file in the same directory (same filesystem, so rename(2) is atomic),
 * fsynced with its final mode before the rename makes it visible. All are
 * staged before the first rename, and renamed in the given order (a key
 * before its certificate, so a certificate on disk never lacks its key).
 */
export function replaceFiles(files: readonly FileWrite[]): void {
  const staged: Array<[string, string]> = [];
  try {
    for (const f of files) staged.push([stage(f), f.file]);
  } catch (err) {
    for (const [tmp] of staged) fs.rmSync(tmp, { force: true });
    throw err;
  }
  for (const [tmp, file] of staged) fs.renameSync(tmp, file);
}

export function writeFileAtomic(file: string, data: string, mode: number): void {
  replaceFiles([{ file, data, mode }]);
}
