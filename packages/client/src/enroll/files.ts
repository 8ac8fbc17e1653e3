import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Private keys are readable by their owner only; certificates are public. */
export const KEY_MODE = 0o600;
export const CERT_MODE = 0o644;
export const DIR_MODE = 0o700;

/** Where `--tls.dir` keeps the enrolled pair and the pinned CA. */
export const tlsPaths = (dir: string) => ({
  ca: path.join(dir, 'ca.crt'),
  key: path.join(dir, 'client.key'),
  cert: path.join(dir, 'client.crt'),
});

/** A fully written temp file beside `file` with its final mode, ready to be renamed over it. */
function stage(file: string, data: string, mode: number): string {
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
 * Replaces files so each reader sees either the old or the whole new file
 * (temp in the same directory, fsynced, renamed). All are staged before the
 * first rename, and renamed in the given order (key before certificate, so a
 * certificate on disk never lacks its key), which keeps the window where the
 * pair on disk mismatches down to two renames.
 */
export function replaceFiles(files: ReadonlyArray<{ readonly file: string; readonly data: string; readonly mode: number }>): void {
  const staged: Array<[string, string]> = [];
  try {
    for (const f of files) staged.push([stage(f.file, f.data, f.mode), f.file]);
  } catch (err) {
    for (const [tmp] of staged) fs.rmSync(tmp, { force: true });
    throw err;
  }
  for (const [tmp, file] of staged) fs.renameSync(tmp, file);
}

/** Creates `dir` owner-only if missing; an existing directory keeps its mode. */
export function ensureDir(dir: string): void {
  if (fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE }) !== undefined) fs.chmodSync(dir, DIR_MODE);
}
