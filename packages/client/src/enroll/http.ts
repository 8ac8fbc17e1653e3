import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { CONTENT_TYPE_CSR, ERROR_CODES, PATH_ENROLL, PATH_ENROLL_CA, PushProxError, messageOf } from '@pushprox/shared';

/** Every network step of enrollment is bounded by this, by default. */
export const ENROLL_STEP_TIMEOUT_MS = 10_000;
/** Largest answer read from /enroll or /enroll/ca (a PEM certificate is ~2 KiB). */
const MAX_REPLY_BYTES = 64 * 1024;

/** A non-200 answer from the proxy; `status` 404 means enrollment is off or the proxy is upstream's. */
export class EnrollHttpError extends PushProxError {
  readonly httpStatus: number;

  constructor(httpStatus: number, message: string) {
    super(httpStatus === 401 ? ERROR_CODES.ENROLL_UNAUTHENTICATED : httpStatus === 403 ? ERROR_CODES.ENROLL_FORBIDDEN : ERROR_CODES.ENROLL_BAD_REQUEST, message);
    this.name = 'EnrollHttpError';
    this.httpStatus = httpStatus;
  }
}

/** `path` (origin-form) resolved against the proxy URL, keeping a path prefix like /poll does. */
export function enrollUrl(proxyUrl: string, path: typeof PATH_ENROLL | typeof PATH_ENROLL_CA): URL {
  return new URL(path.slice(1), proxyUrl.replace(/\/+$/, '') + '/');
}

export interface RequestTls {
  /** Trusted CA (PEM); undefined with `insecure`. */
  readonly ca?: string;
  /** Accept any server certificate: only to fetch the CA, whose fingerprint is then checked. */
  readonly insecure?: boolean;
  /** Client certificate and key (PEM) for renewal. */
  readonly cert?: string;
  readonly key?: string;
}

interface Exchange {
  readonly method: 'GET' | 'POST';
  readonly url: URL;
  readonly tls: RequestTls;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly timeoutMs?: number;
}

/** One request, its answer read whole (bounded); rejects after `timeoutMs` in all. */
function exchange(x: Exchange): Promise<{ status: number; body: string }> {
  const timeoutMs = x.timeoutMs ?? ENROLL_STEP_TIMEOUT_MS;
  const secure = x.url.protocol === 'https:';
  const host = x.url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = {
      method: x.method,
      host,
      port: x.url.port || (secure ? 443 : 80),
      path: `${x.url.pathname}${x.url.search}`,
      headers: { ...x.headers, ...(x.body !== undefined && { 'Content-Length': String(Buffer.byteLength(x.body)) }) },
      agent: false,
      ...(secure && {
        rejectUnauthorized: !x.tls.insecure,
        ...(x.tls.ca !== undefined && { ca: x.tls.ca }),
        ...(x.tls.cert !== undefined && { cert: x.tls.cert, key: x.tls.key }),
        // SNI carries names only (RFC 6066 §3); the certificate is still checked against an IP host.
        ...(isIP(host) === 0 && { servername: host }),
      }),
    };
    const req = (secure ? https : http).request(options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_REPLY_BYTES) req.destroy(new Error(`expected an answer of at most ${MAX_REPLY_BYTES} bytes from ${x.url.href}, got more`));
        else chunks.push(c);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer from ${x.url.href} within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${x.method} ${x.url.href} failed: ${messageOf(err)}`, { cause: err }));
    });
    req.end(x.body);
  });
}

function refused(url: URL, status: number, body: string): EnrollHttpError {
  const why = body.trim().split('\n')[0]?.slice(0, 300) ?? '';
  const hint = status === 404 ? ' (enrollment is not enabled on this proxy, or it is not a pushprox-ts proxy)' : '';
  return new EnrollHttpError(status, `${url.href} answered ${status}${hint}: ${why}`);
}

/**
 * GET /enroll/ca without verifying the server: nothing is trusted yet. The
 * first certificate of the answer is returned alone (never the rest of the
 * body, which could smuggle in more trust anchors); the caller compares its
 * fingerprint with the pin before trusting it.
 */
export async function fetchCa(proxyUrl: string, timeoutMs?: number): Promise<X509Certificate> {
  const url = enrollUrl(proxyUrl, PATH_ENROLL_CA);
  const r = await exchange({ method: 'GET', url, tls: { insecure: true }, ...(timeoutMs !== undefined && { timeoutMs }) });
  if (r.status !== 200) throw refused(url, r.status, r.body);
  try {
    return new X509Certificate(r.body);
  } catch (err) {
    throw new PushProxError(ERROR_CODES.ENROLL_CA_MISMATCH, `expected a PEM CA certificate from ${url.href}, got ${JSON.stringify(r.body.slice(0, 80))}: ${messageOf(err)}`);
  }
}

/** POST /enroll over TLS verified against `tls.ca`; authorised by `token` or by `tls.cert` (renewal). */
export async function postCsr(
  proxyUrl: string,
  csrPem: string,
  auth: { readonly token?: string; readonly tls: RequestTls; readonly timeoutMs?: number },
): Promise<string> {
  const url = enrollUrl(proxyUrl, PATH_ENROLL);
  const r = await exchange({
    method: 'POST',
    url,
    tls: auth.tls,
    headers: { 'Content-Type': CONTENT_TYPE_CSR, ...(auth.token !== undefined && { Authorization: `Bearer ${auth.token}` }) },
    body: csrPem,
    ...(auth.timeoutMs !== undefined && { timeoutMs: auth.timeoutMs }),
  });
  if (r.status !== 200) throw refused(url, r.status, r.body);
  return r.body;
}
