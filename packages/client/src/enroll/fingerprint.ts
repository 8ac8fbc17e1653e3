import { createHash } from 'node:crypto';

/** Bytes of a SHA-256 fingerprint. */
export const FINGERPRINT_BYTES = 32;

/**
 * `--enroll.ca-fingerprint` as `pushprox-proxy pki init` prints it or as
 * kubeadm writes it: an optional `sha256:` prefix, then 32 bytes of hex with
 * or without colons, in either case.
 */
export function parseFingerprint(input: string): Buffer {
  const hex = input.trim().replace(/^sha256:/i, '').replace(/:/g, '');
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length !== FINGERPRINT_BYTES * 2) {
    throw new Error(
      `expected a SHA-256 fingerprint: ${FINGERPRINT_BYTES} bytes of hex, colons and a "sha256:" prefix optional, got ${JSON.stringify(input.slice(0, 120))}`,
    );
  }
  return Buffer.from(hex, 'hex');
}

/** `AB:CD:…`, as openssl and `pushprox-proxy pki init` print it. */
export function formatFingerprint(fp: Buffer): string {
  return fp.toString('hex').toUpperCase().match(/../g)!.join(':');
}

/** SHA-256 of a DER certificate. */
export function fingerprintOf(der: Buffer): Buffer {
  return createHash('sha256').update(der).digest();
}
