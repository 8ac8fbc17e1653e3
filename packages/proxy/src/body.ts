import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { ERROR_CODES, PushProxError } from '@pushprox/shared';

/**
 * Reads a body expected to be tiny (a poll's FQDN), refusing more than
 * `limit` bytes as soon as they arrive rather than buffering them.
 */
export function readSmallBody(source: Readable, limit: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        cleanup();
        source.resume();
        reject(new PushProxError(ERROR_CODES.POLL_BAD_FQDN, `${what} body is larger than ${limit} bytes`));
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(new Error(`${what} connection closed before its body ended`));
    };
    const cleanup = () => {
      source.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    };
    source.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/** First value of a request header (node:http lower-cases names). */
export function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
