/**
 * Character-level grammar of HTTP/1.1 (RFC 9110 §5.6, RFC 9112 §2–§4).
 *
 * Strings in this codec are latin1 views of wire bytes: one char per byte, so
 * any char above U+00FF cannot be put on the wire and every check below
 * rejects it.
 */

import type { HttpVersion } from './types.js';

/** tchar (RFC 9110 §5.6.2), as a regular-expression class. */
const TCHAR = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
/** HTAB, SP, VCHAR and obs-text: field-vchar plus the whitespace allowed inside a value, as a class. */
const FIELD_CHAR = '[\\t\\x20-\\x7e\\x80-\\xff]';
/** token = 1*tchar. */
const TOKEN = new RegExp(`^${TCHAR}+$`);
const FIELD_CHARS = new RegExp(`^${FIELD_CHAR}*$`);
/**
 * Field lines, each `token ":" value CRLF` (RFC 9112 §5): no obs-fold, no
 * whitespace before the colon, no bare CR or LF. The classes meet only at ':'
 * and CRLF, so matching is linear.
 */
const FIELD_LINES = new RegExp(`^(?:${TCHAR}+:${FIELD_CHAR}*\\r\\n)*$`);
/** Visible ASCII and obs-text: no CTL, no SP (RFC 9112 §3.2 request-target is a URI). */
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;
/** absolute-URI with an authority: `scheme "://" authority …` (RFC 3986 §3). */
const ABSOLUTE_WITH_HOST = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]/;
const VERSION = /^HTTP\/([0-9])\.([0-9])$/;

/**
 * Whether `s` is a run of well-formed field lines, each ending in CRLF (none
 * included): one test for what isToken and isFieldValue check line by line.
 */
export function isFieldLines(s: string): boolean {
  return FIELD_LINES.test(s);
}

/** OWS (RFC 9110 §5.6.3): SP or HTAB. */
export function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** `s[start, end)` without the OWS around it: a field value as stored (RFC 9112 §5). */
export function owsTrimmed(s: string, start: number, end: number): string {
  while (start < end && isOws(s.charCodeAt(start))) start++;
  while (end > start && isOws(s.charCodeAt(end - 1))) end--;
  return s.slice(start, end);
}

export function isToken(s: string): boolean {
  return TOKEN.test(s);
}

/**
 * A field value may be empty; it contains no CR, LF, NUL nor any other CTL
 * except HTAB (RFC 9110 §5.5). Leading/trailing whitespace is not checked
 * here: the parser strips it as OWS, and the serializer refuses it.
 */
export function isFieldValue(s: string): boolean {
  return FIELD_CHARS.test(s);
}

/** reason-phrase = *( HTAB / SP / VCHAR / obs-text ) (RFC 9112 §4, empty allowed). */
export function isReasonPhrase(s: string): boolean {
  return FIELD_CHARS.test(s);
}

/** A request-target as the codec accepts it: non-empty, no whitespace, no CTL. */
export function isRequestTarget(s: string): boolean {
  return TARGET.test(s);
}

/**
 * True for absolute-form targets that name a host (`http://host:port/path`),
 * which is how a proxy recognises a scrape; origin-form (`/metrics`),
 * authority-form (`host:port`) and asterisk-form (`*`) are false.
 */
export function isAbsoluteForm(target: string): boolean {
  return ABSOLUTE_WITH_HOST.test(target);
}

/** `HTTP/d.d`; the version grammar allows exactly one digit each side (RFC 9112 §2.3). */
export function isHttpVersion(v: HttpVersion): boolean {
  return Number.isInteger(v.major) && Number.isInteger(v.minor) && v.major >= 0 && v.major <= 9 && v.minor >= 0 && v.minor <= 9;
}

/** `HTTP/x.y`; the caller guarantees isHttpVersion(v). */
export function formatHttpVersion(v: HttpVersion): string {
  return `HTTP/${v.major}.${v.minor}`;
}

/** Parses `HTTP/d.d`, or returns undefined. */
export function parseHttpVersion(s: string): HttpVersion | undefined {
  const m = VERSION.exec(s);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

/** JSON-quoted, at most `max` chars of `s`, for error messages that show what arrived. */
export function quoteSnippet(s: string, max = 40): string {
  return s.length > max ? `${JSON.stringify(s.slice(0, max))}…` : JSON.stringify(s);
}

/**
 * A reason phrase (RFC 9112 §4: HTAB, SP, VCHAR, obs-text) carrying an error
 * summary. Go clients, Prometheus among them, show the status line verbatim
 * ("server returned HTTP status 500 <reason>"); every other peer treats it
 * as free text. Other characters become spaces; at most 200 characters.
 */
export function reasonPhrase(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]+/g, ' ').trim();
  return clean.length > 200 ? `${clean.slice(0, 197)}...` : clean;
}
