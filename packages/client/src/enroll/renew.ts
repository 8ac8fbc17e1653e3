import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { CERT_MODE, formatDuration, KEY_MODE, messageOf, replaceFiles, type Logger } from '@pushprox/shared';
import { newKeyAndCsr } from './csr.js';
import { EnrollHttpError, ENROLL_STEP_TIMEOUT_MS, postCsr } from './http.js';
import { checkIssued } from './verify.js';

export interface RenewalTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface RenewalOptions {
  /** --tls.cert, --tls.key, --tls.cacert: read before each renewal, replaced after it. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  readonly proxyUrl: string;
  readonly fqdn: string;
  readonly logger: Logger;
  /** Called once the new key and certificate are in place, e.g. to reload the client's TLS. */
  readonly onRenewed: () => Promise<void>;
  /** Renew once this fraction of the certificate's lifetime has elapsed. Default 2/3. */
  readonly renewFraction?: number;
  /** Default Date.now. */
  readonly now?: () => number;
  /** Default the global setTimeout/clearTimeout (unref'd). */
  readonly timers?: RenewalTimers;
  /** Longest single sleep; the schedule is re-checked after it, so clock jumps are noticed. Default 1 h. */
  readonly maxSleepMs?: number;
  /** First retry after a failure, doubling up to retryMaxMs. Defaults 1 min and 1 h. */
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  /** Bound on the renewal request. Default 10 s. */
  readonly requestTimeoutMs?: number;
}

export interface Renewal {
  /** Stops the schedule; a renewal in flight is not written. Idempotent. */
  stop(): void;
}

const HOUR_MS = 3_600_000;

const systemTimers: RenewalTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/**
 * Renews the client certificate before it expires, without a restart: at
 * `renewFraction` of its lifetime a NEW key and CSR are made and sent to
 * POST /enroll over mutual TLS with the current pair (no token), the answer
 * is checked like a first enrollment's, key then certificate are replaced
 * atomically, and onRenewed is called. Failures retry with doubling backoff;
 * a 404 (enrollment disabled, or an upstream proxy) is logged once and
 * retried hourly.
 */
export function startRenewal(opts: RenewalOptions): Renewal {
  const { logger } = opts;
  const now = opts.now ?? Date.now;
  const timers = opts.timers ?? systemTimers;
  const fraction = opts.renewFraction ?? 2 / 3;
  if (!(fraction > 0 && fraction < 1)) throw new Error(`expected renewFraction between 0 and 1, got ${fraction}`);
  const maxSleep = opts.maxSleepMs ?? HOUR_MS;
  const retryInitial = opts.retryInitialMs ?? 60_000;
  const retryMax = opts.retryMaxMs ?? HOUR_MS;
  let stopped = false;
  let pending: { handle: unknown; wake: () => void } | undefined;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        pending = undefined;
        resolve();
      };
      pending = { handle: timers.setTimeout(wake, Math.max(0, ms)), wake };
    });

  async function renewOnce(current: X509Certificate): Promise<void> {
    const [certPem, keyPem, caPem] = await Promise.all([
      readFile(opts.certFile, 'utf8'),
      readFile(opts.keyFile, 'utf8'),
      readFile(opts.caFile, 'utf8'),
    ]);
    const next = await newKeyAndCsr(opts.fqdn);
    const answer = await postCsr(opts.proxyUrl, next.csrPem, {
      tls: { ca: caPem, cert: certPem, key: keyPem },
      timeoutMs: opts.requestTimeoutMs ?? ENROLL_STEP_TIMEOUT_MS,
    });
    const cert = checkIssued(answer, new X509Certificate(caPem), next.keyPem, opts.fqdn, now());
    if (stopped) return;
    replaceFiles([
      { file: opts.keyFile, data: next.keyPem, mode: KEY_MODE },
      { file: opts.certFile, data: cert.toString(), mode: CERT_MODE },
    ]);
    logger.info('Renewed client certificate', {
      fqdn: opts.fqdn,
      old_serial: current.serialNumber,
      serial: cert.serialNumber,
      not_after: new Date(cert.validTo).toISOString(),
    });
    try {
      await opts.onRenewed();
    } catch (err) {
      logger.warn('Renewed certificate written, but reloading it failed; it is used from the next restart', { err: messageOf(err) });
    }
  }

  async function loop(): Promise<void> {
    let retry = retryInitial;
    let told404 = false;
    while (!stopped) {
      let notAfter = Number.NaN;
      try {
        const current = new X509Certificate(await readFile(opts.certFile));
        const from = Date.parse(current.validFrom);
        notAfter = Date.parse(current.validTo);
        const wait = from + fraction * (notAfter - from) - now();
        if (wait > 0) {
          await sleep(Math.min(wait, maxSleep));
          continue;
        }
        await renewOnce(current);
        retry = retryInitial;
        told404 = false;
      } catch (err) {
        if (stopped) break;
        if (err instanceof EnrollHttpError && err.httpStatus === 404) {
          if (!told404) logger.warn('Certificate renewal is not offered by the proxy; retrying hourly', { err: messageOf(err) });
          told404 = true;
          await sleep(HOUR_MS);
          continue;
        }
        const expired = now() >= notAfter;
        logger.warn('Certificate renewal failed', {
          err: messageOf(err),
          retry_in: formatDuration(retry),
          ...(expired && { hint: 'the certificate has expired; re-enroll with "pushprox-client enroll --enroll.force"' }),
        });
        await sleep(retry);
        retry = Math.min(retry * 2, retryMax);
      }
    }
  }

  void loop();
  return {
    stop() {
      stopped = true;
      if (pending) {
        timers.clearTimeout(pending.handle);
        pending.wake();
      }
    },
  };
}
