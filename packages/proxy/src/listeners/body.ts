import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { ERROR_CODES, PushProxError, WireError } from '@pushprox/shared';

/**
 * Reads a body expected to be tiny (a poll's FQDN), refusing more than
 * `limit` bytes as soon as they arrive rather than buffering them.
 */
export async function readSmallBody(source: Readable, limit: number, what: string): Promise<string> {
  const tooLarge = () => new PushProxError(ERROR_CODES.POLL_BAD_FQDN, `${what} body is larger than ${limit} bytes`);
  return Buffer.concat(await readWholeBody(source, limit, tooLarge, what)).toString('utf8');
}

/**
 * Reads a whole body of at most `limit` bytes as the chunks read (no copy).
 * More than `limit` rejects with tooLarge() as soon as it arrives; the rest is
 * then read and dropped. A source that closes before its end rejects with
 * WIRE_TRUNCATED.
 */
export function readWholeBody(source: Readable, limit: number, tooLarge: () => Error, what: string): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        cleanup();
        source.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(new WireError(ERROR_CODES.WIRE_TRUNCATED, `${what} connection closed before its body ended`));
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
