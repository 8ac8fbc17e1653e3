import { readFileSync } from 'node:fs';

/** The version in the root package.json of the given package directory URL. */
export function readVersion(packageJsonUrl: URL): string {
  const pkg = JSON.parse(readFileSync(packageJsonUrl, 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}
