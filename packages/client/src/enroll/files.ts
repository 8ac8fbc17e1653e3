import fs from 'node:fs';
import path from 'node:path';
import { DIR_MODE } from '@pushprox/shared';

/** Where `--tls.dir` keeps the enrolled pair and the pinned CA. */
export const tlsPaths = (dir: string) => ({
  ca: path.join(dir, 'ca.crt'),
  key: path.join(dir, 'client.key'),
  cert: path.join(dir, 'client.crt'),
});

/** Creates `dir` owner-only if missing; an existing directory keeps its mode. */
export function ensureDir(dir: string): void {
  if (fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE }) !== undefined) fs.chmodSync(dir, DIR_MODE);
}
