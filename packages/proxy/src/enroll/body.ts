import type { IncomingMessage } from 'node:http';
import { ERROR_CODES, PushProxError } from '@pushprox/shared';

/**
 * Reads a small request body, counting bytes as they arrive (Content-Length
 * is not trusted): more than `limit` bytes is WIRE_BODY_TOO_LARGE (413), a
 * body unfinished after `timeoutMs` is ENROLL_TIMEOUT (408). Either way the
 * rest of the body is discarded unread.
 */
export function readBodyBounded(req: IncomingMessage, limit: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (err: Error | undefined) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (err) {
        req.resume();
        reject(err);
      } else {
        resolve(Buffer.concat(chunks));
      }
    };
    const timer = setTimeout(
      () => finish(new PushProxError(ERROR_CODES.ENROLL_TIMEOUT, `expected the whole request body within ${timeoutMs} ms, got ${size} bytes`)),
      timeoutMs,
    );
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        finish(new PushProxError(ERROR_CODES.WIRE_BODY_TOO_LARGE, `expected a request body of at most ${limit} bytes, got more`));
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => finish(undefined);
    const onError = (err: Error) => finish(err);
    const onClose = () => finish(new PushProxError(ERROR_CODES.ENROLL_BAD_REQUEST, `expected a complete request body, got ${size} bytes before the connection closed`));
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}
