/**
 * Whole-buffer parsing: the buffer is exactly one message. Anything after the
 * end the framing declares is refused (WIRE_TRAILING_DATA), and so is a buffer
 * that ends early (WIRE_TRUNCATED). Bad input only ever throws WireError.
 */

import { BodyDecoder } from './body-decoder.js';
import { DEFAULT_MAX_HEAD_BYTES, DEFAULT_MAX_HEADERS, HeadDecoder } from './decoder.js';
import { ERROR_CODES, WireError } from '../protocol/errors.js';
import { requestFraming, responseFraming } from './framing.js';
import { REQUEST_LINE, STATUS_LINE, type StartLineSyntax } from './start-line.js';
import { WireHeaders } from './headers.js';
import { isFieldLines, owsTrimmed } from './syntax.js';
import type { BodyFraming, ParseLimits, RequestHead, ResponseHead } from './types.js';

export interface ParsedRequest {
  readonly head: RequestHead;
  readonly framing: BodyFraming;
  /** Decoded (de-chunked) body; may share memory with the input buffer. */
  readonly body: Buffer;
}

export interface ParsedResponse {
  readonly head: ResponseHead;
  readonly framing: BodyFraming;
  /** Decoded (de-chunked) body; may share memory with the input buffer. */
  readonly body: Buffer;
}

/*
 * quickHead: the fast path for a head that is well-formed, which is every head
 * a scrape carries. HeadDecoder checks a head line by line, as
 * bytes arrive, with an exact error for each fault; run once every few
 * seconds, its many small steps run cold, with most of their time in cache
 * misses. Here the head is one latin1 string checked by one regular
 * expression (isFieldLines) and split with indexOf.
 *
 * Invariant: quickHead returns a head only where HeadDecoder returns the same
 * head at the same offset; for anything else, faults included, it returns
 * undefined and the caller runs HeadDecoder, which gives the error. The
 * start line is parsed by the same StartLineSyntax, and the size and count
 * limits are the decoder's (the codec's differential test compares both).
 */

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** The head at the start of `buf` and the offset after its empty line, or undefined (see the invariant above). */
export function quickHead<H>(syntax: StartLineSyntax<H>, buf: Buffer, limits?: ParseLimits): { head: H; offset: number } | undefined {
  const maxBytes = limits?.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES;
  const end = buf.indexOf(HEAD_END);
  if (end < 0 || end + 4 > maxBytes) return undefined;
  // Through the last field line's CRLF.
  const text = buf.toString('latin1', 0, end + 2);
  const eol = text.indexOf('\r\n');
  const startLine = text.slice(0, eol);
  const fields = text.slice(eol + 2);
  if (!isFieldLines(fields)) return undefined;
  const headers = new WireHeaders();
  let at = 0;
  let count = 0;
  const maxFields = limits?.maxHeaders ?? DEFAULT_MAX_HEADERS;
  while (at < fields.length) {
    if (++count > maxFields) return undefined;
    const lineEnd = fields.indexOf('\r\n', at);
    const colon = fields.indexOf(':', at);
    headers.append(fields.slice(at, colon), owsTrimmed(fields, colon + 1, lineEnd));
    at = lineEnd + 2;
  }
  try {
    return { head: syntax.parse(startLine, headers), offset: end + 4 };
  } catch {
    return undefined;
  }
}

function parseHead<H>(syntax: StartLineSyntax<H>, buf: Buffer, limits?: ParseLimits): { head: H; offset: number } {
  const quick = quickHead(syntax, buf, limits);
  if (quick) return quick;
  const decoder = new HeadDecoder(syntax, limits);
  const offset = decoder.write(buf, 0);
  if (!decoder.done) decoder.end();
  return { head: decoder.head, offset };
}

function decodeBody(framing: BodyFraming, buf: Buffer, offset: number, limits?: ParseLimits): Buffer {
  const decoder = new BodyDecoder(framing, limits);
  const pieces: Buffer[] = [];
  const end = decoder.write(buf, offset, pieces);
  decoder.end();
  if (end < buf.length) {
    throw new WireError(ERROR_CODES.WIRE_TRAILING_DATA, `${buf.length - end} bytes follow the end of the message`);
  }
  if (pieces.length === 1) return pieces[0]!;
  return pieces.length === 0 ? Buffer.alloc(0) : Buffer.concat(pieces);
}

export function parseRequest(buf: Buffer, limits?: ParseLimits): ParsedRequest {
  const { head, offset } = parseHead(REQUEST_LINE, buf, limits);
  const framing = requestFraming(head);
  return { head, framing, body: decodeBody(framing, buf, offset, limits) };
}

/**
 * A response head alone: `buf` holds the status line and fields up to and
 * including the empty line; whatever follows is not read.
 */
export function parseResponseHead(buf: Buffer, limits?: ParseLimits): ResponseHead {
  return parseHead(STATUS_LINE, buf, limits).head;
}

/** `requestMethod` is the method of the request this answers (HEAD responses have no body). */
export function parseResponse(buf: Buffer, limits?: ParseLimits, opts?: { requestMethod?: string }): ParsedResponse {
  const { head, offset } = parseHead(STATUS_LINE, buf, limits);
  const framing = responseFraming(head, opts?.requestMethod);
  return { head, framing, body: decodeBody(framing, buf, offset, limits) };
}
