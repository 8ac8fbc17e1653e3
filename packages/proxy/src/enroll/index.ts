import path from 'node:path';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { formatDuration, type Logger } from '@pushprox/shared';
import { fingerprintSha256 } from '../pki/ca.js';
import { loadCa } from '../pki/store.js';
import { createEnrollHandler } from './handler.js';
import { EnrollState } from './state.js';
import { loadEnrollTokens, type EnrollTokenTable } from './tokens.js';

/**
 * Certificate enrollment, loaded by main only when --enroll.token-file is
 * given (this module pulls in node-forge; the proxy alone never does).
 */
export interface EnrollmentOptions {
  /** --enroll.token-file. */
  readonly tokenFile: string;
  /** --enroll.ca-dir: the directory of `pushprox-proxy pki init` (ca.crt, ca.key). */
  readonly caDir: string;
  /** --enroll.cert-validity in ms (default 720h); capped at the CA's expiry. */
  readonly certValidityMs: number;
  /** --enroll.state-file; default `<caDir>/enroll-state.json`. */
  readonly stateFile?: string;
  /** --web.max-auth-failures: refused enrollments per source per minute before 429; 0: no limit. Default 10. */
  readonly maxFailures?: number;
  /** Whether the listener serving /enroll speaks TLS; without, a warning is logged. */
  readonly tls: boolean;
  readonly logger: Logger;
}

export interface Enrollment {
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** SHA-256 fingerprint of the CA certificate, `AB:CD:…`, what clients pin. */
  readonly caFingerprint: string;
  /** Re-reads --enroll.token-file (throws on a bad file); apply with setTokens. */
  loadTokens(): EnrollTokenTable;
  setTokens(tokens: EnrollTokenTable): void;
}

export const DEFAULT_STATE_FILE = 'enroll-state.json';

/** Loads the CA, tokens and state, or throws an error naming the flag and file at fault. */
export function createEnrollment(opts: EnrollmentOptions): Enrollment {
  const ca = loadCa(opts.caDir);
  let caCert: X509Certificate;
  try {
    caCert = new X509Certificate(ca.certPem);
    if (!caCert.checkPrivateKey(createPrivateKey(ca.keyPem))) throw new Error('ca.key does not belong to ca.crt');
  } catch (err) {
    throw new Error(`--enroll.ca-dir ${opts.caDir}: expected a CA certificate and its key, got: ${(err as Error).message}`);
  }
  if (!caCert.ca) throw new Error(`--enroll.ca-dir ${opts.caDir}: ca.crt is not a CA certificate (basicConstraints CA:FALSE)`);
  if (Date.parse(caCert.validTo) <= Date.now()) {
    throw new Error(`--enroll.ca-dir ${opts.caDir}: the CA expired at ${new Date(caCert.validTo).toISOString()}`);
  }
  let tokens = loadEnrollTokens(opts.tokenFile);
  const stateFile = opts.stateFile ?? path.join(opts.caDir, DEFAULT_STATE_FILE);
  const state = EnrollState.load(stateFile);
  const caFingerprint = fingerprintSha256(ca.certPem);
  opts.logger.info('Enrollment enabled', {
    ca_fingerprint: `sha256:${caFingerprint}`,
    tokens: tokens.size,
    state_file: stateFile,
    cert_validity: formatDuration(opts.certValidityMs),
  });
  if (!opts.tls) {
    opts.logger.warn('Enrollment over plain HTTP: bootstrap tokens travel in clear text; configure tls_server_config in --web.config.file');
  }
  const handler = createEnrollHandler({
    ca,
    tokens: () => tokens,
    state,
    certValidityMs: opts.certValidityMs,
    logger: opts.logger,
    ...(opts.maxFailures !== undefined && { maxFailures: opts.maxFailures }),
  });
  return {
    handler,
    caFingerprint,
    loadTokens: () => loadEnrollTokens(opts.tokenFile),
    setTokens: (next) => {
      tokens = next;
    },
  };
}
