/**
 * Serialization of message heads and the chunked transfer coding.
 *
 * Everything is validated before a byte is produced: a head that would not
 * parse back to itself (CR/LF in a value, a space in a target, a non-token
 * name…) throws WireError. This is the barrier against header injection
 * through FQDNs, targets or copied header values.
 */

import { Transform, type TransformCallback } from 'node:stream';
import { ERROR_CODES, WireError } from '../protocol/errors.js';
import type { WireHeaders } from './headers.js';
import { formatHttpVersion, isFieldValue, isHttpVersion, isReasonPhrase, isRequestTarget, isToken, quoteSnippet } from './syntax.js';
import type { HttpVersion, RequestHead, ResponseHead } from './types.js';

const CRLF = '\r\n';

function badStartLine(message: string): WireError {
  return new WireError(ERROR_CODES.WIRE_MALFORMED_START_LINE, message);
}

function checkedVersion(v: HttpVersion): string {
  if (!isHttpVersion(v)) throw badStartLine(`HTTP version ${JSON.stringify(v)} is not single-digit major.minor`);
  return formatHttpVersion(v);
}

/** `name: value\r\n`, validated. */
function fieldLine(name: string, value: string): string {
  if (!isToken(name)) throw new WireError(ERROR_CODES.WIRE_INVALID_HEADER, `header name ${quoteSnippet(name)} is not a token`);
  if (!isFieldValue(value)) {
    throw new WireError(ERROR_CODES.WIRE_INVALID_HEADER, `value of header ${quoteSnippet(name)} contains CR, LF, NUL or another control character`);
  }
  // Surrounding whitespace is OWS on the wire (RFC 9112 §5.1) and would be lost.
  if (/^[ \t]|[ \t]$/.test(value)) {
    throw new WireError(ERROR_CODES.WIRE_INVALID_HEADER, `value of header ${quoteSnippet(name)} has leading or trailing whitespace`);
  }
  return `${name}: ${value}${CRLF}`;
}

/** `name: value\r\n` for each field, in order and spelling, then the empty line. */
function fieldLines(headers: WireHeaders): string {
  let out = '';
  for (const [name, value] of headers) out += fieldLine(name, value);
  return out + CRLF;
}

export function serializeRequestHead(head: RequestHead): Buffer {
  if (!isToken(head.method)) throw badStartLine(`method ${quoteSnippet(head.method)} is not a token`);
  if (!isRequestTarget(head.target)) {
    throw badStartLine(`request-target ${quoteSnippet(head.target)} is empty or contains whitespace or a control character`);
  }
  const line = `${head.method} ${head.target} ${checkedVersion(head.version)}${CRLF}`;
  return Buffer.from(line + fieldLines(head.headers), 'latin1');
}

/**
 * As serializeRequestHead, with the fields given flat (name, value, name,
 * value…): a head built per scrape needs no WireHeaders and no pair per field.
 */
export function serializeRequestHeadFlat(method: string, target: string, version: HttpVersion, fields: readonly string[]): Buffer {
  if (!isToken(method)) throw badStartLine(`method ${quoteSnippet(method)} is not a token`);
  if (!isRequestTarget(target)) {
    throw badStartLine(`request-target ${quoteSnippet(target)} is empty or contains whitespace or a control character`);
  }
  let out = `${method} ${target} ${checkedVersion(version)}${CRLF}`;
  for (let i = 0; i + 1 < fields.length; i += 2) out += fieldLine(fields[i]!, fields[i + 1]!);
  return Buffer.from(out + CRLF, 'latin1');
}

/** The validated status line of a response. */
function statusLine(version: HttpVersion, status: number, reason: string): string {
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw badStartLine(`status ${String(status)} is not an integer from 100 to 999`);
  }
  if (!isReasonPhrase(reason)) throw badStartLine(`reason phrase ${quoteSnippet(reason)} contains CR, LF or a control character`);
  return `${checkedVersion(version)} ${status} ${reason}${CRLF}`;
}

export function serializeResponseHead(head: ResponseHead): Buffer {
  return Buffer.from(statusLine(head.version, head.status, head.reason) + fieldLines(head.headers), 'latin1');
}

/**
 * As serializeResponseHead, with the fields given flat (name, value, name,
 * value…), so a relayed head needs no object per field.
 */
export function serializeResponseHeadFlat(version: HttpVersion, status: number, reason: string, fields: readonly string[]): Buffer {
  let out = statusLine(version, status, reason);
  for (let i = 0; i + 1 < fields.length; i += 2) out += fieldLine(fields[i]!, fields[i + 1]!);
  return Buffer.from(out + CRLF, 'latin1');
}

/**
 * Bytes → chunked transfer coding (RFC 9112 §7.1): one chunk per non-empty
 * input chunk (the data itself is passed through, not copied), and the last
 * chunk `0\r\n\r\n` with no trailers at the end.
 */
export function createChunkedEncoder(): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
      if (chunk.length > 0) {
        this.push(Buffer.from(`${chunk.length.toString(16)}${CRLF}`, 'latin1'));
        this.push(chunk);
        this.push(Buffer.from(CRLF, 'latin1'));
      }
      callback();
    },
    flush(callback: TransformCallback): void {
      callback(null, Buffer.from(`0${CRLF}${CRLF}`, 'latin1'));
    },
  });
}
