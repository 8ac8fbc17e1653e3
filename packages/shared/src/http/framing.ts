/**
 * Message body length (RFC 9112 §6.3), decided strictly so that no two
 * parsers can disagree about where a message ends (request smuggling):
 *
 * - Transfer-Encoding and Content-Length together are refused, as is
 *   Transfer-Encoding in a message older than HTTP/1.1 (§6.1), which other
 *   parsers (Go among them) ignore.
 * - Transfer-Encoding must be exactly `chunked`, listed once. Other codings,
 *   which for a response would mean close-delimited, are refused too.
 * - Content-Length is 1*DIGIT (at most 15 digits); repeated fields or list
 *   members must be identical.
 * - Otherwise a request has no body and a response runs to the end of input.
 */

import { ERROR_CODES, WireError } from '../protocol/errors.js';
import type { WireHeaders } from './headers.js';
import { quoteSnippet } from './syntax.js';
import type { BodyFraming, HttpVersion, RequestHead, ResponseHead } from './types.js';

const DIGITS = /^[0-9]{1,15}$/;
const NONE: BodyFraming = Object.freeze({ kind: 'none' });
const CHUNKED: BodyFraming = Object.freeze({ kind: 'chunked' });
const CLOSE: BodyFraming = Object.freeze({ kind: 'close' });

function ambiguous(message: string): WireError {
  return new WireError(ERROR_CODES.WIRE_AMBIGUOUS_LENGTH, message);
}

function trimOws(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && (s[start] === ' ' || s[start] === '\t')) start++;
  while (end > start && (s[end - 1] === ' ' || s[end - 1] === '\t')) end--;
  return s.slice(start, end);
}

/** Members of all fields called `name`, as one comma-separated list (RFC 9110 §5.3). */
function listMembers(headers: WireHeaders, name: string): string[] {
  const out: string[] = [];
  for (const v of headers.getAll(name)) for (const m of v.split(',')) out.push(trimOws(m));
  return out;
}

/** The declared Content-Length, or undefined when there is none. */
export function contentLength(headers: WireHeaders): number | undefined {
  if (!headers.has('content-length')) return undefined;
  const members = listMembers(headers, 'content-length');
  const first = members[0]!;
  for (const m of members) {
    if (!DIGITS.test(m)) throw ambiguous(`invalid Content-Length ${quoteSnippet(m)}: expected 1 to 15 digits`);
    if (m !== first) throw ambiguous(`conflicting Content-Length values ${quoteSnippet(first)} and ${quoteSnippet(m)}`);
  }
  return Number(first);
}

/** Whether the message is chunked; any Transfer-Encoding other than a single `chunked` is refused. */
function isChunked(headers: WireHeaders, version: HttpVersion): boolean {
  if (!headers.has('transfer-encoding')) return false;
  const members = listMembers(headers, 'transfer-encoding');
  if (members.length !== 1 || members[0]!.toLowerCase() !== 'chunked') {
    throw ambiguous(`unsupported Transfer-Encoding ${quoteSnippet(headers.getAll('transfer-encoding').join(', '))}: only "chunked" is accepted`);
  }
  if (version.major < 1 || (version.major === 1 && version.minor < 1)) {
    throw ambiguous(`Transfer-Encoding in an HTTP/${version.major}.${version.minor} message`);
  }
  return true;
}

/** Checks the length fields of any message and returns the framing they declare, if any. */
function declaredFraming(headers: WireHeaders, version: HttpVersion): BodyFraming | undefined {
  const chunked = isChunked(headers, version);
  const length = contentLength(headers);
  if (chunked && length !== undefined) throw ambiguous('both Transfer-Encoding and Content-Length are present');
  if (chunked) return CHUNKED;
  return length === undefined ? undefined : { kind: 'length', length };
}

export function requestFraming(head: RequestHead): BodyFraming {
  return declaredFraming(head.headers, head.version) ?? NONE;
}

/**
 * Responses to HEAD, 1xx, 204, 304 and 2xx to CONNECT have no body whatever
 * their headers say (§6.3 rules 1–2); the headers are still checked.
 */
export function responseFraming(head: ResponseHead, requestMethod?: string): BodyFraming {
  const declared = declaredFraming(head.headers, head.version);
  const s = head.status;
  // Methods are case-sensitive (RFC 9110 §9.1): `head` is not HEAD.
  if (requestMethod === 'HEAD' || s < 200 || s === 204 || s === 304 || (requestMethod === 'CONNECT' && s < 300)) return NONE;
  return declared ?? CLOSE;
}
