import { isFieldValue, isToken } from '@pushprox/shared';

/**
 * HTTP/1.1 response framing for plain-http.ts (RFC 9112): the head, and the
 * chunked transfer coding. Strict where a lenient parser would open a
 * smuggling or desync hole: CRLF line ends only, no obs-fold, a single
 * Content-Length, chunk sizes of at most 16 hex digits.
 */

/** A response the exporter sent that cannot be read as HTTP/1.1. `code` is stable. */
export class ResponseParseError extends Error {
  readonly code: 'HEAD_TOO_LARGE' | 'BAD_HEAD' | 'BAD_CHUNK';
  constructor(code: ResponseParseError['code'], message: string) {
    super(message);
    this.name = 'ResponseParseError';
    this.code = code;
  }
}

/** How the body is delimited (RFC 9112 §6.3). */
export type Framing = { readonly kind: 'none' } | { readonly kind: 'length'; readonly length: number } | { readonly kind: 'chunked' } | { readonly kind: 'close' };

export interface ResponseHead {
  readonly status: number;
  readonly statusText: string;
  /** Flat [name, value, …], names as sent, values without surrounding whitespace. */
  readonly headers: string[];
  readonly framing: Framing;
  /** The connection may carry another request once the body is read. */
  readonly reusable: boolean;
  /** `Keep-Alive: timeout=N` in ms, if the server sent one. */
  readonly keepAliveMs: number | undefined;
}

const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?$/;
const DECIMAL = /^\d{1,15}$/;

/**
 * Parses a head (its bytes up to, not including, the blank line, as latin1).
 * `1xx` heads parse too: the caller skips them. Throws ResponseParseError.
 */
export function parseHead(text: string, method: string): ResponseHead {
  const lines = text.split('\r\n');
  const m = STATUS_LINE.exec(lines[0]!);
  if (!m) throw new ResponseParseError('BAD_HEAD', `invalid status line ${JSON.stringify(lines[0]!.slice(0, 64))}`);
  const http10 = m[1] === '0';
  const status = Number(m[2]);
  const headers: string[] = [];
  let length: string | undefined;
  let transferEncoding: string | undefined;
  let close = false;
  let keepAliveToken = false;
  let keepAliveMs: number | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon);
    // A name with whitespace before the colon, or a continuation line (obs-fold), is refused (RFC 9112 §5.1, §5.2).
    if (!isToken(name)) throw new ResponseParseError('BAD_HEAD', `invalid header line ${JSON.stringify(line.slice(0, 64))}`);
    const value = line.slice(colon + 1).trim();
    if (!isFieldValue(value)) throw new ResponseParseError('BAD_HEAD', `invalid value of header ${name}`);
    headers.push(name, value);
    const lower = name.toLowerCase();
    if (lower === 'content-length') {
      // Repeated or listed values must all agree (RFC 9110 §8.6).
      for (const v of value.split(',')) {
        const n = v.trim();
        if (!DECIMAL.test(n) || (length !== undefined && Number(length) !== Number(n))) {
          throw new ResponseParseError('BAD_HEAD', `invalid Content-Length ${JSON.stringify(value.slice(0, 32))}`);
        }
        length = n;
      }
    } else if (lower === 'transfer-encoding') {
      transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
    } else if (lower === 'connection') {
      for (const t of value.split(',')) {
        const token = t.trim().toLowerCase();
        if (token === 'close') close = true;
        else if (token === 'keep-alive') keepAliveToken = true;
      }
    } else if (lower === 'keep-alive') {
      const t = /(?:^|[\s,])timeout=(\d{1,6})(?:$|[\s,;])/i.exec(value);
      if (t) keepAliveMs = Number(t[1]) * 1000;
    }
  }
  let framing: Framing;
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) framing = { kind: 'none' };
  else if (transferEncoding !== undefined) {
    // Transfer-Encoding overrides Content-Length; a final coding other than chunked is read to the close (RFC 9112 §6.3).
    const codings = transferEncoding.split(',').map((c) => c.trim().toLowerCase());
    framing = codings.at(-1) === 'chunked' && !http10 ? { kind: 'chunked' } : { kind: 'close' };
    if (length !== undefined) close = true;
  } else if (length !== undefined) framing = { kind: 'length', length: Number(length) };
  else framing = { kind: 'close' };
  const reusable = framing.kind !== 'close' && !close && (!http10 || keepAliveToken);
  return { status, statusText: m[3] ?? '', headers, framing, reusable, keepAliveMs };
}

/** Longest chunk-size line (size, extensions) and trailer section read. */
const MAX_CHUNK_LINE = 4096;
const MAX_TRAILERS = 16 * 1024;
const CHUNK_SIZE = /^([0-9A-Fa-f]{1,16})[\t ]*(?:;.*)?$/;

/**
 * Decodes the chunked transfer coding as bytes arrive. `feed` returns the
 * data it found and, once the last chunk and trailers are read, `done` and
 * any bytes after them; on a malformed coding, the data before the fault and
 * `error` (ResponseParseError), after which the decoder is not fed again.
 */
export class ChunkedDecoder {
  #state: 'size' | 'data' | 'data-end' | 'trailers' | 'done' = 'size';
  /** Bytes of the data left in the current chunk. */
  #left = 0;
  /** A size or trailer line read so far (latin1). */
  #line = '';
  #trailerBytes = 0;

  feed(buf: Buffer): { data: Buffer[]; done: boolean; rest: Buffer | undefined; error?: ResponseParseError } {
    const data: Buffer[] = [];
    try {
      return this.#feed(buf, data);
    } catch (err) {
      // The data before the fault is still the body's.
      return { data, done: false, rest: undefined, error: err as ResponseParseError };
    }
  }

  #feed(buf: Buffer, data: Buffer[]): { data: Buffer[]; done: boolean; rest: Buffer | undefined } {
    let i = 0;
    while (i < buf.length && this.#state !== 'done') {
      if (this.#state === 'data') {
        const n = Math.min(this.#left, buf.length - i);
        data.push(buf.subarray(i, i + n));
        i += n;
        this.#left -= n;
        if (this.#left === 0) this.#state = 'data-end';
        continue;
      }
      const lf = buf.indexOf(0x0a, i);
      const end = lf < 0 ? buf.length : lf + 1;
      this.#line += buf.toString('latin1', i, end);
      i = end;
      const limit = this.#state === 'trailers' ? MAX_TRAILERS - this.#trailerBytes : MAX_CHUNK_LINE;
      if (this.#line.length > limit) throw new ResponseParseError('BAD_CHUNK', 'chunk size line or trailers too long');
      if (lf < 0) break;
      if (!this.#line.endsWith('\r\n')) throw new ResponseParseError('BAD_CHUNK', 'chunk line not ended by CRLF');
      const line = this.#line.slice(0, -2);
      this.#line = '';
      if (this.#state === 'data-end') {
        if (line !== '') throw new ResponseParseError('BAD_CHUNK', 'chunk data longer than its size');
        this.#state = 'size';
      } else if (this.#state === 'size') {
        const m = CHUNK_SIZE.exec(line);
        if (!m) throw new ResponseParseError('BAD_CHUNK', `invalid chunk size line ${JSON.stringify(line.slice(0, 32))}`);
        this.#left = parseInt(m[1]!, 16);
        if (!Number.isSafeInteger(this.#left)) throw new ResponseParseError('BAD_CHUNK', 'chunk size too large');
        this.#state = this.#left === 0 ? 'trailers' : 'data';
      } else {
        this.#trailerBytes += line.length + 2;
        if (line === '') this.#state = 'done';
      }
    }
    const done = this.#state === 'done';
    return { data, done, rest: done && i < buf.length ? buf.subarray(i) : undefined };
  }
}
