import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import forge from 'node-forge';
import {
  CONTENT_TYPE_PEM,
  ERROR_CODES,
  isPushProxError,
  messageOf,
  PATH_ENROLL,
  PATH_ENROLL_CA,
  PushProxError,
  type Logger,
} from '@pushprox/shared';
import { verifiedPeer } from '../auth/client-auth.js';
import { FailureLimiter, sourceOf } from '../auth/failure-limiter.js';
import { WarnAggregator } from '../warn-aggregator.js';
import { sendText, sendTextAndClose } from '../listeners/respond.js';
import { signCsr, type CertAndKey } from '../pki/ca.js';
import { parseHost } from '../pki/names.js';
import { readBodyBounded } from './body.js';
import type { EnrollState } from './state.js';
import { hashToken } from '../auth/token-lines.js';
import { tokenAllows, type EnrollTokenTable } from './tokens.js';

export interface EnrollHandlerOptions {
  readonly ca: CertAndKey;
  /** The bootstrap tokens, or a function returning the current ones (reloaded on SIGHUP). */
  readonly tokens: EnrollTokenTable | (() => EnrollTokenTable);
  readonly state: EnrollState;
  /** Lifetime of issued certificates in ms (capped at the CA's expiry by the signer). */
  readonly certValidityMs: number;
  readonly logger: Logger;
  /** Default Date.now; tokens' `expires=` is checked against it. */
  readonly now?: () => number;
  /** Largest CSR body. Default 64 KiB. */
  readonly maxBodyBytes?: number;
  /** The whole body must arrive within this. Default 10 s. */
  readonly bodyTimeoutMs?: number;
  /** Refused (401, 403) attempts one source may make per window before 429; 0: no limit. Default AUTH_MAX_FAILURES (10). */
  readonly maxFailures?: number;
  /** The limit's window. Default AUTH_FAILURE_WINDOW_MS (60 s). */
  readonly failureWindowMs?: number;
  /** Sources the limit and the refusal log track at once. Default 1024. */
  readonly maxSources?: number;
  /** Refusal warnings: up to `maxFailures` per source in full, then one summary line per source per interval. Default 60 s. */
  readonly warnIntervalMs?: number;
}

export const ENROLL_MAX_BODY_BYTES = 64 * 1024;
export const ENROLL_BODY_TIMEOUT_MS = 10_000;
export const ENROLL_MAX_SOURCES = 1024;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Who asked, for logs: a token's label or a certificate's subject, never the token. */
interface Caller {
  who: string;
  fqdn?: string;
}

const fail = (code: (typeof ERROR_CODES)[keyof typeof ERROR_CODES], message: string) => new PushProxError(code, message);

/** The CN of a PEM PKCS#10 request: the FQDN it asks for. */
function requestedFqdn(csrPem: string): string {
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(csrPem);
  } catch (err) {
    throw fail(ERROR_CODES.ENROLL_BAD_REQUEST, `expected a PEM PKCS#10 certificate request with an RSA key, got one that does not parse: ${messageOf(err)}`);
  }
  const cns = csr.subject.attributes.filter((a) => a.name === 'commonName').map((a) => String(a.value));
  if (cns.length !== 1) throw fail(ERROR_CODES.ENROLL_BAD_REQUEST, `expected exactly one CN (the FQDN) in the request subject, got ${cns.length}`);
  try {
    return parseHost(cns[0]!).value;
  } catch (err) {
    throw fail(ERROR_CODES.ENROLL_BAD_REQUEST, `expected the request's CN to be a host name or IP address: ${messageOf(err)}`);
  }
}

function bearer(req: IncomingMessage): string | undefined | null {
  const h = req.headers.authorization;
  if (h === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1]! : null;
}

/**
 * `GET /enroll/ca` and `POST /enroll` (see wire.ts). A request is authorised
 * by a bootstrap token valid for the FQDN (a use is counted only when the
 * certificate is issued) or, for renewal, by a verified client certificate
 * issued by this CA naming the FQDN. The CSR's own names are checked by
 * signCsr, which takes only its public key.
 */
export function createEnrollHandler(opts: EnrollHandlerOptions): Handler {
  const { ca, state, logger } = opts;
  const tokensNow = typeof opts.tokens === 'function' ? opts.tokens : ((t) => () => t)(opts.tokens);
  const now = opts.now ?? Date.now;
  const caX509 = new X509Certificate(ca.certPem);
  const caBody = Buffer.from(ca.certPem);
  const maxBody = opts.maxBodyBytes ?? ENROLL_MAX_BODY_BYTES;
  const bodyTimeout = opts.bodyTimeoutMs ?? ENROLL_BODY_TIMEOUT_MS;
  const maxSources = opts.maxSources ?? ENROLL_MAX_SOURCES;
  const limiter = new FailureLimiter({
    maxSources,
    ...(opts.maxFailures !== undefined && { maxFailures: opts.maxFailures }),
    ...(opts.failureWindowMs !== undefined && { windowMs: opts.failureWindowMs }),
  });
  // A peer can cause these at will (one per guessed token). The attempts a
  // source may make before the limit are written in full, so an operator's
  // mistake stays diagnosable; past that they are counted, not written.
  const refusals = new WarnAggregator({
    logger,
    msg: 'Enrollment refused',
    maxSources,
    burst: Math.max(1, limiter.maxFailures),
    ...(opts.warnIntervalMs !== undefined && { intervalMs: opts.warnIntervalMs }),
  });

  const names = (x: X509Certificate, fqdn: string) => (isIP(fqdn) ? x.checkIP(fqdn) !== undefined : x.checkHost(fqdn) !== undefined);

  /** Throws 401/403; returns the token to consume, or undefined for a certificate renewal. */
  function authorise(req: IncomingMessage, fqdn: string, caller: Caller): ReturnType<EnrollTokenTable['get']> {
    const given = bearer(req);
    if (given === undefined) {
      const peer = verifiedPeer(req);
      if (!peer) {
        throw fail(ERROR_CODES.ENROLL_UNAUTHENTICATED,
          `expected "Authorization: Bearer <bootstrap token>" or a client certificate issued by this CA naming ${fqdn}, got neither`);
      }
      caller.who = peer.subject;
      const cert = new X509Certificate(peer.raw);
      // client_ca_file may trust other CAs too; only this CA's own certificates renew.
      if (!cert.checkIssued(caX509) || !cert.verify(caX509.publicKey)) {
        throw fail(ERROR_CODES.ENROLL_FORBIDDEN, `expected a client certificate issued by the enrollment CA, got one issued by ${cert.issuer.replace(/\n/g, ', ')}`);
      }
      if (!names(cert, fqdn)) throw fail(ERROR_CODES.ENROLL_FORBIDDEN, `${peer.subject} may not renew a certificate for ${JSON.stringify(fqdn)}`);
      return undefined;
    }
    if (given === null) throw fail(ERROR_CODES.ENROLL_UNAUTHENTICATED, 'expected "Authorization: Bearer <bootstrap token>", got another scheme');
    const token = tokensNow().get(hashToken(given));
    if (!token) throw fail(ERROR_CODES.ENROLL_UNAUTHENTICATED, 'expected a bootstrap token from --enroll.token-file, got an unknown one');
    caller.who = token.label;
    if (token.expires && now() >= token.expires.getTime()) {
      throw fail(ERROR_CODES.ENROLL_UNAUTHENTICATED, `the bootstrap token expired at ${token.expires.toISOString()}`);
    }
    if (token.uses !== undefined && state.used(token.hash) >= token.uses) {
      throw fail(ERROR_CODES.ENROLL_UNAUTHENTICATED, `the bootstrap token is used up (${token.uses} of ${token.uses} uses)`);
    }
    if (!tokenAllows(token, fqdn)) throw fail(ERROR_CODES.ENROLL_FORBIDDEN, `the bootstrap token is not valid for ${JSON.stringify(fqdn)}`);
    return token;
  }

  async function enroll(req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    const body = await readBodyBounded(req, maxBody, bodyTimeout);
    const csrPem = body.toString('utf8');
    const fqdn = requestedFqdn(csrPem);
    caller.fqdn = fqdn;
    const token = authorise(req, fqdn, caller);
    let certPem: string;
    try {
      certPem = signCsr(ca, csrPem, fqdn, { ms: opts.certValidityMs });
    } catch (err) {
      throw fail(ERROR_CODES.ENROLL_BAD_REQUEST, messageOf(err));
    }
    // Nothing awaited since authorise(): the check above and this count are one step.
    if (token && !state.consume(token.hash, token.uses)) {
      throw fail(ERROR_CODES.ENROLL_UNAUTHENTICATED, `the bootstrap token is used up (${token.uses} of ${token.uses} uses)`);
    }
    const issued = new X509Certificate(certPem);
    logger.info(token ? 'Enrolled client' : 'Renewed client certificate', {
      fqdn,
      by: caller.who,
      serial: issued.serialNumber,
      not_after: new Date(issued.validTo).toISOString(),
    });
    const out = Buffer.from(certPem);
    res.writeHead(200, { 'Content-Type': CONTENT_TYPE_PEM, 'Content-Length': out.length, 'Cache-Control': 'no-store' });
    res.end(out);
  }

  return (req, res) => {
    const q = req.url!.indexOf('?');
    const path = q < 0 ? req.url! : req.url!.slice(0, q);
    if (path === PATH_ENROLL_CA) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendText(res, 405, `expected GET ${PATH_ENROLL_CA}, got ${req.method}`, { Allow: 'GET, HEAD' });
        return;
      }
      res.writeHead(200, { 'Content-Type': CONTENT_TYPE_PEM, 'Content-Length': caBody.length });
      res.end(req.method === 'HEAD' ? undefined : caBody);
      return;
    }
    if (req.method !== 'POST') {
      sendText(res, 405, `expected POST ${PATH_ENROLL} with a PEM certificate request, got ${req.method}`, { Allow: 'POST' });
      return;
    }
    const caller: Caller = { who: verifiedPeer(req)?.subject ?? 'anonymous' };
    const source = sourceOf(req.socket.remoteAddress);
    const waitMs = limiter.retryAfterMs(source);
    if (waitMs > 0) {
      const retryAfterS = Math.max(1, Math.ceil(waitMs / 1000));
      const err = new PushProxError(
        ERROR_CODES.AUTH_THROTTLED,
        `too many refused enrollment attempts from ${source} (${limiter.maxFailures} in ${limiter.windowMs / 1000} s); retry after ${retryAfterS} s`,
      );
      refusals.note(source, { by: caller.who, status: err.status, err: err.message });
      // The body is left unread: the connection closes after this answer.
      sendTextAndClose(res, err.status, err.message, { 'Retry-After': String(retryAfterS) });
      return;
    }
    enroll(req, res, caller).then(() => limiter.succeed(source), (err: unknown) => {
      const status = isPushProxError(err) ? err.status : 500;
      const fields = { fqdn: caller.fqdn ?? '?', by: caller.who, status, err: messageOf(err) };
      // Wrong, used-up or expired tokens and certificates are what guessing produces.
      if (status === 401 || status === 403) limiter.fail(source);
      if (status >= 500) logger.error('Enrollment failed', fields);
      else refusals.note(source, fields);
      // Unread body bytes would otherwise be parsed as the next request.
      sendTextAndClose(res, status, status >= 500 ? 'Internal Server Error: the certificate could not be issued' : messageOf(err));
    });
  };
}
