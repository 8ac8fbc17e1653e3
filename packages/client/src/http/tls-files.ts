import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import { ERROR_CODES, messageOf, PushProxError } from '@pushprox/shared';

/** PEM material for TLS connections (to the proxy, or to `_scheme=https` targets). */
export interface TlsMaterial {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** The files one set of TLS flags names; undefined or '' for a flag not given. */
export interface TlsFiles {
  readonly cacert?: string | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
}

/** Flag prefix of a TLS set: `tls` (upstream's: proxy, and targets by default) or `scrape.tls` (targets only). */
export type TlsFlagPrefix = 'tls' | 'scrape.tls';

/** A startup error (exit 1) whose message names the flag. */
export function configError(message: string, cause?: unknown): PushProxError {
  return new PushProxError(ERROR_CODES.CONFIG_INVALID, message, cause === undefined ? undefined : { cause });
}

/** True when at least one of the set's flags was given (a non-empty value). */
export function hasTlsFiles(files: TlsFiles): boolean {
  return Boolean(files.cacert) || Boolean(files.cert) || Boolean(files.key);
}

/** The file a flag names; undefined when the flag was not given. Errors name the flag and the file. */
export async function readFlagFile(flag: string, file: string | undefined): Promise<Buffer | undefined> {
  if (file === undefined || file === '') return undefined;
  try {
    return await readFile(file);
  } catch (err) {
    throw configError(`cannot read --${flag} file ${JSON.stringify(file)}: ${messageOf(err)}`, err);
  }
}

/**
 * Reads and checks one set of TLS files; cert and key must come together, as
 * upstream's LoadX509KeyPair requires. Errors name the flag and the file.
 * Reads the files afresh on every call (a TLS reload calls it again).
 */
export async function loadTlsFiles(prefix: TlsFlagPrefix, files: TlsFiles): Promise<TlsMaterial> {
  const hasCert = Boolean(files.cert);
  const hasKey = Boolean(files.key);
  if (hasCert !== hasKey) {
    throw configError(
      `--${prefix}.cert and --${prefix}.key must be given together, got only ${hasCert ? `--${prefix}.cert=${files.cert}` : `--${prefix}.key=${files.key}`}`,
    );
  }
  const [ca, cert, key] = await Promise.all([
    readFlagFile(`${prefix}.cacert`, files.cacert),
    readFlagFile(`${prefix}.cert`, files.cert),
    readFlagFile(`${prefix}.key`, files.key),
  ]);
  const material: TlsMaterial = Object.freeze({
    ...(ca && { ca }),
    ...(cert && { cert }),
    ...(key && { key }),
  });
  try {
    if (ca) tls.createSecureContext({ ca });
  } catch (err) {
    throw configError(`--${prefix}.cacert file ${JSON.stringify(files.cacert)} is not a usable PEM CA certificate: ${messageOf(err)}`, err);
  }
  try {
    if (cert && key) tls.createSecureContext({ cert, key });
  } catch (err) {
    throw configError(
      `--${prefix}.cert ${JSON.stringify(files.cert)} and --${prefix}.key ${JSON.stringify(files.key)} are not a usable PEM certificate and key pair: ${messageOf(err)}`,
      err,
    );
  }
  return material;
}
