/**
 * Start lines (RFC 9112 §3 request-line, §4 status-line), strictly:
 *   request-line = method SP request-target SP HTTP-version
 *   status-line  = HTTP-version SP 3DIGIT [ SP reason-phrase ]
 * with exactly one SP between parts. The missing `SP reason` form is accepted
 * because real servers send it; the reason may also be empty.
 *
 * Besides whole lines, these check *prefixes*, so a message that cannot become
 * HTTP is refused as soon as its first bytes arrive, instead of waiting for a
 * line end that may never come (upstream's malformed pushes carry no LF).
 */

import { ERROR_CODES, WireError } from '../protocol/errors.js';
import type { WireHeaders } from './headers.js';
import { isReasonPhrase, isRequestTarget, isToken, parseHttpVersion, quoteSnippet } from './syntax.js';
import type { RequestHead, ResponseHead } from './types.js';

/** What a head decoder needs to know about one kind of start line. */
export interface StartLineSyntax<H> {
  /** What the line should look like, for error messages. */
  readonly shape: string;
  /** Why `partial` (a line prefix, no CR/LF) can never start a valid line, or undefined. */
  prefixError(partial: string): string | undefined;
  /** Parses a whole line (no CRLF) into a head whose headers are `headers`. */
  parse(line: string, headers: WireHeaders): H;
}

const REQUEST_SHAPE = 'a request line "METHOD request-target HTTP/d.d"';
const STATUS_SHAPE = 'a status line "HTTP/d.d ddd [reason]"';
const STATUS_LINE_RE = /^HTTP\/([0-9])\.([0-9]) ([1-9][0-9][0-9])(?: (.*))?$/s;

function malformed(shape: string, got: string, why?: string): WireError {
  const detail = why ? ` (${why})` : '';
  return new WireError(
    ERROR_CODES.WIRE_MALFORMED_START_LINE,
    `malformed start line: expected ${shape}, got ${quoteSnippet(got)}${detail}`,
  );
}

/**
 * Whether `s` is a prefix of a string matching `template`, where `d` stands
 * for a digit, `n` for a non-zero digit and every other char for itself.
 */
function fitsTemplate(s: string, template: string): boolean {
  if (s.length > template.length) return false;
  for (let i = 0; i < s.length; i++) {
    const t = template[i]!;
    const c = s.charCodeAt(i);
    if (t === 'd' ? c < 0x30 || c > 0x39 : t === 'n' ? c < 0x31 || c > 0x39 : s[i] !== t) return false;
  }
  return true;
}

function requestPrefixError(s: string): string | undefined {
  const sp1 = s.indexOf(' ');
  const method = sp1 < 0 ? s : s.slice(0, sp1);
  if (method !== '' && !isToken(method)) return 'method is not a token';
  if (sp1 < 0) return undefined;
  if (sp1 === 0) return 'empty method';
  const sp2 = s.indexOf(' ', sp1 + 1);
  const target = sp2 < 0 ? s.slice(sp1 + 1) : s.slice(sp1 + 1, sp2);
  if (target !== '' && !isRequestTarget(target)) return 'request-target contains a control character';
  if (sp2 < 0) return undefined;
  if (target === '') return 'empty request-target';
  return fitsTemplate(s.slice(sp2 + 1), 'HTTP/d.d') ? undefined : 'bad HTTP-version';
}

function statusPrefixError(s: string): string | undefined {
  if (!fitsTemplate(s.slice(0, 12), 'HTTP/d.d ndd')) return 'not HTTP/d.d followed by a 3-digit status';
  if (s.length <= 12) return undefined;
  if (s[12] !== ' ') return 'status code is not 3 digits';
  return isReasonPhrase(s.slice(13)) ? undefined : 'reason phrase contains a control character';
}

export const REQUEST_LINE: StartLineSyntax<RequestHead> = {
  shape: REQUEST_SHAPE,
  prefixError: requestPrefixError,
  parse(line, headers) {
    const why = requestPrefixError(line);
    if (why !== undefined) throw malformed(REQUEST_SHAPE, line, why);
    const sp1 = line.indexOf(' ');
    const sp2 = line.indexOf(' ', sp1 + 1);
    const version = sp2 < 0 ? undefined : parseHttpVersion(line.slice(sp2 + 1));
    if (version === undefined) throw malformed(REQUEST_SHAPE, line, 'incomplete');
    return { method: line.slice(0, sp1), target: line.slice(sp1 + 1, sp2), version, headers };
  },
};

export const STATUS_LINE: StartLineSyntax<ResponseHead> = {
  shape: STATUS_SHAPE,
  prefixError: statusPrefixError,
  parse(line, headers) {
    const m = STATUS_LINE_RE.exec(line);
    if (m === null) throw malformed(STATUS_SHAPE, line, statusPrefixError(line) ?? 'incomplete');
    const reason = m[4] ?? '';
    if (!isReasonPhrase(reason)) throw malformed(STATUS_SHAPE, line, 'reason phrase contains a control character');
    return { version: { major: Number(m[1]), minor: Number(m[2]) }, status: Number(m[3]), reason, headers };
  },
};

/** The error for a start line that `syntax` refuses from its first bytes on. */
export function startLinePrefixError<H>(syntax: StartLineSyntax<H>, partial: string): WireError | undefined {
  const why = syntax.prefixError(partial);
  if (why === undefined) return undefined;
  return malformed(syntax.shape, partial, why);
}
