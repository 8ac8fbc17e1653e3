/**
 * Errors carry a stable `code` (like undici's `UND_ERR_*`), so callers and
 * tests branch on codes, never on message text. `HTTP_STATUS` is the single
 * table from code to the status an HTTP handler answers with.
 */

export const ERROR_CODES = {
  // Wire codec: a message that is not (unambiguous) HTTP/1.1.
  WIRE_MALFORMED_START_LINE: 'PUSHPROX_WIRE_MALFORMED_START_LINE',
  WIRE_INVALID_HEADER: 'PUSHPROX_WIRE_INVALID_HEADER',
  WIRE_HEAD_TOO_LARGE: 'PUSHPROX_WIRE_HEAD_TOO_LARGE',
  WIRE_AMBIGUOUS_LENGTH: 'PUSHPROX_WIRE_AMBIGUOUS_LENGTH',
  WIRE_INVALID_CHUNK: 'PUSHPROX_WIRE_INVALID_CHUNK',
  WIRE_TRUNCATED: 'PUSHPROX_WIRE_TRUNCATED',
  WIRE_BODY_TOO_LARGE: 'PUSHPROX_WIRE_BODY_TOO_LARGE',
  WIRE_TRAILING_DATA: 'PUSHPROX_WIRE_TRAILING_DATA',
  // Proxy.
  POLL_BAD_FQDN: 'PUSHPROX_POLL_BAD_FQDN',
  POLL_EXPIRED: 'PUSHPROX_POLL_EXPIRED',
  REGISTRATION_FULL: 'PUSHPROX_REGISTRATION_FULL',
  PUSH_UNKNOWN_ID: 'PUSHPROX_PUSH_UNKNOWN_ID',
  PUSH_EXPIRED_ID: 'PUSHPROX_PUSH_EXPIRED_ID',
  PUSH_MISSING_ID: 'PUSHPROX_PUSH_MISSING_ID',
  PUSH_ABORTED: 'PUSHPROX_PUSH_ABORTED',
  SCRAPE_UNKNOWN_CLIENT: 'PUSHPROX_SCRAPE_UNKNOWN_CLIENT',
  SCRAPE_TIMEOUT: 'PUSHPROX_SCRAPE_TIMEOUT',
  SCRAPE_CANCELLED: 'PUSHPROX_SCRAPE_CANCELLED',
  SCRAPE_BAD_TARGET: 'PUSHPROX_SCRAPE_BAD_TARGET',
  SHUTTING_DOWN: 'PUSHPROX_SHUTTING_DOWN',
  CLIENT_UNAUTHENTICATED: 'PUSHPROX_CLIENT_UNAUTHENTICATED',
  CLIENT_FORBIDDEN: 'PUSHPROX_CLIENT_FORBIDDEN',
  /** An X-Pushprox-Client-Meta header that breaks client-meta.ts' rules: the poll is refused. */
  CLIENT_META_INVALID: 'PUSHPROX_CLIENT_META_INVALID',
  /** Too many failed authentication attempts (basic auth, enrollment) from one source: refused unchecked. */
  AUTH_THROTTLED: 'PUSHPROX_AUTH_THROTTLED',
  /** Too many password checks in progress: refused unchecked rather than queued. */
  AUTH_BUSY: 'PUSHPROX_AUTH_BUSY',
  /** /poll or /push on the scraper listener, or a scrape on the client listener. */
  WRONG_LISTENER: 'PUSHPROX_WRONG_LISTENER',
  ENROLL_DISABLED: 'PUSHPROX_ENROLL_DISABLED',
  ENROLL_BAD_REQUEST: 'PUSHPROX_ENROLL_BAD_REQUEST',
  /** Bootstrap token unknown, used up or expired. */
  ENROLL_UNAUTHENTICATED: 'PUSHPROX_ENROLL_UNAUTHENTICATED',
  /** Token or certificate not valid for the requested FQDN. */
  ENROLL_FORBIDDEN: 'PUSHPROX_ENROLL_FORBIDDEN',
  /** The enrollment request body did not arrive in time. */
  ENROLL_TIMEOUT: 'PUSHPROX_ENROLL_TIMEOUT',
  /** The proxy's CA does not match the pinned fingerprint. */
  ENROLL_CA_MISMATCH: 'PUSHPROX_ENROLL_CA_MISMATCH',
  // Client.
  CLIENT_FQDN_MISMATCH: 'PUSHPROX_CLIENT_FQDN_MISMATCH',
  CLIENT_OVERLOADED: 'PUSHPROX_CLIENT_OVERLOADED',
  CLIENT_SCRAPE_FAILED: 'PUSHPROX_CLIENT_SCRAPE_FAILED',
  CLIENT_BAD_POLL_REPLY: 'PUSHPROX_CLIENT_BAD_POLL_REPLY',
  /** A channel frame that breaks channel-frames.ts' rules. */
  CHANNEL_PROTOCOL: 'PUSHPROX_CHANNEL_PROTOCOL',
  /** The target is outside --allow-port / --scrape.allow / --scrape.methods: policy, not a failure. */
  CLIENT_SCRAPE_REFUSED: 'PUSHPROX_CLIENT_SCRAPE_REFUSED',
  // Configuration.
  CONFIG_INVALID: 'PUSHPROX_CONFIG_INVALID',
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/**
 * Status for each code. Upstream answers every proxy-side failure with 500
 * (408 for an expired poll); we keep that where upstream peers observe it and
 * use precise 4xx where upstream would have blocked or guessed.
 */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = Object.freeze({
  [ERROR_CODES.WIRE_MALFORMED_START_LINE]: 400,
  [ERROR_CODES.WIRE_INVALID_HEADER]: 400,
  [ERROR_CODES.WIRE_HEAD_TOO_LARGE]: 431,
  [ERROR_CODES.WIRE_AMBIGUOUS_LENGTH]: 400,
  [ERROR_CODES.WIRE_INVALID_CHUNK]: 400,
  [ERROR_CODES.WIRE_TRUNCATED]: 400,
  [ERROR_CODES.WIRE_BODY_TOO_LARGE]: 413,
  [ERROR_CODES.WIRE_TRAILING_DATA]: 400,
  [ERROR_CODES.POLL_BAD_FQDN]: 400,
  [ERROR_CODES.POLL_EXPIRED]: 408,
  [ERROR_CODES.REGISTRATION_FULL]: 503,
  [ERROR_CODES.PUSH_UNKNOWN_ID]: 404,
  [ERROR_CODES.PUSH_EXPIRED_ID]: 410,
  [ERROR_CODES.PUSH_MISSING_ID]: 400,
  [ERROR_CODES.PUSH_ABORTED]: 502,
  [ERROR_CODES.SCRAPE_UNKNOWN_CLIENT]: 500,
  [ERROR_CODES.SCRAPE_TIMEOUT]: 500,
  [ERROR_CODES.SCRAPE_CANCELLED]: 500,
  [ERROR_CODES.SCRAPE_BAD_TARGET]: 400,
  [ERROR_CODES.SHUTTING_DOWN]: 503,
  [ERROR_CODES.CLIENT_UNAUTHENTICATED]: 401,
  [ERROR_CODES.CLIENT_FORBIDDEN]: 403,
  [ERROR_CODES.CLIENT_META_INVALID]: 400,
  [ERROR_CODES.AUTH_THROTTLED]: 429,
  [ERROR_CODES.AUTH_BUSY]: 503,
  [ERROR_CODES.WRONG_LISTENER]: 404,
  [ERROR_CODES.ENROLL_DISABLED]: 404,
  [ERROR_CODES.ENROLL_BAD_REQUEST]: 400,
  [ERROR_CODES.ENROLL_UNAUTHENTICATED]: 401,
  [ERROR_CODES.ENROLL_FORBIDDEN]: 403,
  [ERROR_CODES.ENROLL_TIMEOUT]: 408,
  [ERROR_CODES.ENROLL_CA_MISMATCH]: 502,
  [ERROR_CODES.CLIENT_FQDN_MISMATCH]: 500,
  [ERROR_CODES.CLIENT_OVERLOADED]: 503,
  [ERROR_CODES.CLIENT_SCRAPE_FAILED]: 500,
  [ERROR_CODES.CLIENT_BAD_POLL_REPLY]: 502,
  [ERROR_CODES.CHANNEL_PROTOCOL]: 400,
  [ERROR_CODES.CLIENT_SCRAPE_REFUSED]: 403,
  [ERROR_CODES.CONFIG_INVALID]: 500,
});

export class PushProxError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PushProxError';
    this.code = code;
  }

  get status(): number {
    return HTTP_STATUS[this.code];
  }
}

/** Codec errors; `code` is one of the `WIRE_*` codes. */
export class WireError extends PushProxError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'WireError';
  }
}

export function isPushProxError(err: unknown): err is PushProxError {
  return err instanceof PushProxError;
}

/** Status for any thrown value: its table entry, or 500 for the unexpected. */
export function statusOf(err: unknown): number {
  return isPushProxError(err) ? err.status : 500;
}

/** The stable code of any thrown value, or undefined for the unexpected. */
export function codeOf(err: unknown): ErrorCode | undefined {
  return isPushProxError(err) ? err.code : undefined;
}

/** Message of any thrown value, for logs and error bodies. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
