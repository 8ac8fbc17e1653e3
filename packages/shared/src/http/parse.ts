/**
 * Whole-buffer parsing: the buffer is exactly one message. Anything after the
 * end the framing declares is refused (WIRE_TRAILING_DATA), and so is a buffer
 * that ends early (WIRE_TRUNCATED). Bad input only ever throws WireError.
 */

import { BodyDecoder } from './body-decoder.js';
import { HeadDecoder } from './decoder.js';
import { ERROR_CODES, WireError } from '../protocol/errors.js';
import { requestFraming, responseFraming } from './framing.js';
import { REQUEST_LINE, STATUS_LINE, type StartLineSyntax } from './start-line.js';
import { quickHead } from './quick-head.js';
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
