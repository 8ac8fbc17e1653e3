import { ERROR_CODES, PushProxError, type ErrorCode } from '@pushprox/shared';

const KNOWN_CODES = new Set<string>(Object.values(ERROR_CODES));

/** A NATS subject a peer may name for replies: printable tokens, no wildcards, bounded. */
export function isSubject(s: string): boolean {
  return s.length > 0 && s.length <= 256 && /^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$/.test(s);
}

/** The code sent to a peer for a failure here: the error's own, else PUSH_ABORTED. */
export function codeOf(err: unknown): ErrorCode {
  return err instanceof PushProxError ? err.code : ERROR_CODES.PUSH_ABORTED;
}

/**
 * A peer's error as this proxy answers it: a code it knows keeps its status
 * (so a client unknown at the holder is the same 500 as one unknown here);
 * anything else is a broken relay (502).
 */
export function peerError(code: string | undefined, message: string, peer: string): PushProxError {
  const known = code !== undefined && KNOWN_CODES.has(code);
  const text = message.length > 1024 ? `${message.slice(0, 1024)}…` : message;
  return new PushProxError(
    known ? (code as ErrorCode) : ERROR_CODES.PUSH_ABORTED,
    known ? text : `proxy ${peer} answered the forwarded scrape with an unknown error ${JSON.stringify(code ?? '')}: ${text}`,
  );
}

/**
 * Publishes, and swallows the error of a closed or draining connection.
 * NATS calls subscription callbacks from its socket's data handler, and the
 * coordinator calls sinks from its timers: a throw there would stop the
 * process, and a lost message is already bounded by the peer's deadline.
 */
export function publishQuietly(publish: () => void): void {
  try {
    publish();
  } catch {
    // The connection is closed or draining: the peer's deadline ends its side.
  }
}
