import type { Readable } from 'node:stream';
import { ERROR_CODES, PushProxError } from '@pushprox/shared';
import { describeError } from './scrape.js';

/**
 * The exporter's response body broke while it was read (fewer bytes than its
 * Content-Length, bad chunked encoding, a reset): the message says how far it
 * got, the same on every transport (an error push, or a channel's ABORT).
 */
export class ExporterBodyError extends PushProxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ERROR_CODES.CLIENT_SCRAPE_FAILED, message, options);
    this.name = 'ExporterBodyError';
  }
}

/** `length` undefined: the exporter's body was chunked (or close-delimited). */
function broken(got: number, length: number | undefined, err: unknown): ExporterBodyError {
  const cause = describeError(err);
  return length === undefined
    ? new ExporterBodyError(`the exporter's chunked body broke after ${got} bytes: ${cause}`, { cause: err })
    : new ExporterBodyError(`the exporter's body ended after ${got} of ${length} bytes: ${cause}`, { cause: err });
}

function tooLong(length: number): ExporterBodyError {
  return new ExporterBodyError(`the exporter sent more than its Content-Length of ${length} bytes`);
}

/**
 * A body of a known, small length read whole, after `head`; throws ExporterBodyError if it breaks.
 * Read with listeners rather than for-await: no async iterator and no promise per chunk,
 * which at one scrape every few seconds run cold on every scrape.
 */
export function collectBody(
  head: Buffer,
  length: number,
  body: Readable,
  onBytes?: (bytes: number) => void,
): Promise<Buffer[]> {
  const parts = [head];
  let got = 0;
  return new Promise<Buffer[]>((resolve, reject) => {
    const settle = (err: ExporterBodyError | undefined): void => {
      body.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (err === undefined) return resolve(parts);
      if (!body.destroyed) body.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      got += chunk.length;
      if (got > length) return settle(tooLong(length));
      parts.push(chunk);
      onBytes?.(chunk.length);
    };
    const onEnd = (): void => settle(got === length ? undefined : broken(got, length, 'the connection ended'));
    const onError = (err: unknown): void => settle(broken(got, length, err));
    // Destroyed without an error (aborted): what for-await reports as a premature close.
    const onClose = (): void => settle(broken(got, length, 'premature close'));
    // A body destroyed before it is read emits nothing more.
    if (body.destroyed) return settle(broken(0, length, body.errored ?? 'premature close'));
    body.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

const CRLF = Buffer.from('\r\n', 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

/**
 * The exporter's body as the push carries it: as it is (`length` known), or
 * re-encoded chunked. Errors of the body become ExporterBodyError. for-await
 * destroys `body` if the consumer stops early (the push failed).
 */
async function* pushedBody(body: Readable, length: number | undefined, onBytes?: (bytes: number) => void): AsyncGenerator<Buffer> {
  let got = 0;
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      got += buf.length;
      if (length !== undefined && got > length) throw tooLong(length);
      onBytes?.(buf.length);
      if (length !== undefined) yield buf;
      else if (buf.length > 0) {
        yield Buffer.from(`${buf.length.toString(16)}\r\n`, 'latin1');
        yield buf;
        yield CRLF;
      }
    }
  } catch (err) {
    throw err instanceof ExporterBodyError ? err : broken(got, length, err);
  }
  if (length !== undefined && got !== length) throw broken(got, length, 'the connection ended');
  if (length === undefined) yield LAST_CHUNK;
}

async function* resumed(first: Buffer[], rest: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* first;
    yield* rest;
  } finally {
    // Stopped early (the push failed): end the body's reading too, which destroys the exporter's body.
    await rest.return(undefined);
  }
}

/**
 * `head`, then the exporter's body streamed. Resolves only once the body's
 * first bytes (or its end) have arrived, so that a body that breaks before
 * any of it is read rejects here (ExporterBodyError) and the scrape can still
 * be answered with a complete error response on either transport, instead of
 * a head already relayed and a body cut.
 */
export async function streamBody(
  head: Buffer,
  length: number | undefined,
  body: Readable,
  onBytes?: (bytes: number) => void,
): Promise<AsyncGenerator<Buffer>> {
  const rest = pushedBody(body, length, onBytes);
  const first: Buffer[] = [head];
  // A chunked body's first yield is only a chunk's size line: take up to its data.
  for (let i = 0; i < (length === undefined ? 2 : 1); i++) {
    const step = await rest.next();
    if (step.done) break;
    first.push(step.value);
  }
  return resumed(first, rest);
}
