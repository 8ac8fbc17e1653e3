/**
 * Incremental head decoding, shared by the whole-buffer parser (parse.ts),
 * the streaming parser (stream.ts) and chunked trailers (body-decoder.ts).
 *
 * Decoders take input piecewise as `write(chunk, offset)` and return the
 * offset just past what they consumed. They hold back at most one partial
 * line, and never more bytes than their budget allows, so a peer that never
 * ends its head costs at most maxHeadBytes before it is refused.
 */

import { ERROR_CODES, WireError } from '../protocol/errors.js';
import { WireHeaders } from './headers.js';
import { startLinePrefixError, type StartLineSyntax } from './start-line.js';
import { isFieldValue, isOws, isToken, owsTrimmed, quoteSnippet } from './syntax.js';
import type { ParseLimits } from './types.js';

export const DEFAULT_MAX_HEAD_BYTES = 64 * 1024;
export const DEFAULT_MAX_HEADERS = 256;

const CR = 0x0d;
const LF = 0x0a;
/** How many leading bytes of a start line are checked before its line end arrives. */
const PROBE_BYTES = 64;

/** Why a line could not be read: longer than its budget, or ended by LF without CR. */
export type LineFault = 'too-long' | 'bare-lf';

/**
 * Splits input into CRLF-terminated lines (RFC 9112 §2.2: a bare LF is
 * refused; a bare CR stays inside the line, where the content checks refuse it).
 * A line split across chunks is copied into an own buffer, so holding it
 * never pins the (possibly large) input chunks in memory.
 */
export class LineReader {
  /** Bytes of the current line seen so far (none of them LF) are #store[0, #buffered). */
  #store: Buffer = Buffer.alloc(0);
  #buffered = 0;

  /**
   * The next line in `chunk[offset..]` as latin1 text without its CRLF (one
   * char per byte), and the offset after its LF; or undefined when the chunk
   * ended first (its rest is kept). `maxLen` bounds the line including CRLF.
   */
  read(chunk: Buffer, offset: number, maxLen: number, fail: (why: LineFault) => WireError): { line: string; next: number } | undefined {
    if (offset >= chunk.length) return undefined;
    const room = maxLen - this.#buffered;
    const window = chunk.subarray(offset, offset + Math.max(room, 0));
    const lf = window.indexOf(LF);
    if (lf < 0) {
      // Even a LF as the next byte would make the line longer than maxLen.
      if (window.length >= room) throw fail('too-long');
      this.#keep(window);
      return undefined;
    }
    let raw = window.subarray(0, lf);
    if (this.#buffered > 0) {
      this.#keep(raw);
      raw = this.#store.subarray(0, this.#buffered);
      this.#buffered = 0;
    }
    if (raw.length === 0 || raw[raw.length - 1] !== CR) throw fail('bare-lf');
    const line = raw.toString('latin1', 0, raw.length - 1);
    if (this.#store.length > 4096) this.#store = Buffer.alloc(0);
    return { line, next: offset + lf + 1 };
  }

  #keep(bytes: Buffer): void {
    const need = this.#buffered + bytes.length;
    if (need > this.#store.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, 2 * this.#store.length, 256));
      this.#store.copy(grown, 0, 0, this.#buffered);
      this.#store = grown;
    }
    bytes.copy(this.#store, this.#buffered);
    this.#buffered = need;
  }
}

function invalidHeader(message: string): WireError {
  return new WireError(ERROR_CODES.WIRE_INVALID_HEADER, message);
}

/**
 * `field-name ":" OWS field-value OWS` (RFC 9112 §5). No whitespace before the
 * colon (§5.1), no obs-fold (§5.2), and the value passes isFieldValue.
 */
export function parseFieldLine(line: string): [string, string] {
  if (isOws(line.charCodeAt(0))) throw invalidHeader(`obsolete line folding (line starts with whitespace): ${quoteSnippet(line)}`);
  const colon = line.indexOf(':');
  if (colon < 0) throw invalidHeader(`header line has no colon: ${quoteSnippet(line)}`);
  const name = line.slice(0, colon);
  if (!isToken(name)) {
    const why = name === '' ? 'empty field name' : isOws(name.charCodeAt(name.length - 1)) ? 'whitespace before the colon' : 'field name is not a token';
    throw invalidHeader(`${why}: ${quoteSnippet(line)}`);
  }
  const value = owsTrimmed(line, colon + 1, line.length);
  if (!isFieldValue(value)) throw invalidHeader(`value of ${quoteSnippet(name)} contains a control character`);
  return [name, value];
}

function headTooLarge(message: string): WireError {
  return new WireError(ERROR_CODES.WIRE_HEAD_TOO_LARGE, message);
}

/** Reads field lines up to the empty line: a header section or a trailer section. */
export class FieldSectionReader {
  readonly #lines = new LineReader();
  readonly #fields: WireHeaders | undefined;
  readonly #maxFields: number;
  readonly #maxBytes: number;
  /** Bytes the rest of the section may still take, final CRLF included. */
  #room: number;
  #count = 0;
  #done = false;

  /** Fields are appended to `fields`; without it they are checked and dropped. */
  constructor(room: number, maxBytes: number, maxFields: number, fields?: WireHeaders) {
    this.#room = room;
    this.#maxBytes = maxBytes;
    this.#maxFields = maxFields;
    this.#fields = fields;
  }

  get done(): boolean {
    return this.#done;
  }

  write(chunk: Buffer, offset: number): number {
    let pos = offset;
    while (!this.#done) {
      const r = this.#lines.read(chunk, pos, this.#room, this.#fault);
      if (r === undefined) return chunk.length;
      this.#room -= r.line.length + 2;
      pos = r.next;
      if (r.line.length === 0) {
        this.#done = true;
      } else {
        if (++this.#count > this.#maxFields) throw headTooLarge(`more than ${this.#maxFields} header fields`);
        const [name, value] = parseFieldLine(r.line);
        this.#fields?.append(name, value);
      }
    }
    return pos;
  }

  readonly #fault = (why: LineFault): WireError =>
    why === 'too-long' ? headTooLarge(`header section larger than ${this.#maxBytes} bytes`) : invalidHeader('header line ends with a bare LF instead of CRLF');
}

/** Decodes a start line plus header section into a head of type H. */
export class HeadDecoder<H> {
  readonly #syntax: StartLineSyntax<H>;
  readonly #maxBytes: number;
  readonly #maxFields: number;
  readonly #lines = new LineReader();
  readonly #headers = new WireHeaders();
  /** First bytes of the start line (up to PROBE_BYTES, before any CR/LF), checked as they arrive. */
  #probe = '';
  #probing = true;
  #head: H | undefined;
  #fields: FieldSectionReader | undefined;
  #seen = 0;

  constructor(syntax: StartLineSyntax<H>, limits?: ParseLimits) {
    this.#syntax = syntax;
    this.#maxBytes = limits?.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES;
    this.#maxFields = limits?.maxHeaders ?? DEFAULT_MAX_HEADERS;
  }

  get done(): boolean {
    return this.#fields?.done ?? false;
  }

  /** The decoded head; only valid once `done`. */
  get head(): H {
    if (this.#head === undefined || !this.done) throw new Error('HeadDecoder: head requested before it was complete');
    return this.#head;
  }

  write(chunk: Buffer, offset = 0): number {
    this.#seen += chunk.length - offset;
    let pos = offset;
    if (this.#head === undefined) {
      if (this.#probing) this.#probeStartLine(chunk, pos);
      const r = this.#lines.read(chunk, pos, this.#maxBytes, this.#startFault);
      if (r === undefined) return chunk.length;
      this.#head = this.#syntax.parse(r.line, this.#headers);
      this.#fields = new FieldSectionReader(this.#maxBytes - r.line.length - 2, this.#maxBytes, this.#maxFields, this.#headers);
      pos = r.next;
    }
    return this.#fields!.write(chunk, pos);
  }

  /** Input ended before the head did. */
  end(): never {
    throw new WireError(
      ERROR_CODES.WIRE_TRUNCATED,
      this.#seen === 0 ? 'message is empty' : `message ended inside its head, after ${this.#seen} bytes`,
    );
  }

  #probeStartLine(chunk: Buffer, offset: number): void {
    let piece = chunk.subarray(offset, offset + PROBE_BYTES - this.#probe.length);
    const cr = piece.indexOf(CR);
    const lf = piece.indexOf(LF);
    const eol = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
    if (eol >= 0) {
      piece = piece.subarray(0, eol);
      this.#probing = false;
    }
    this.#probe += piece.toString('latin1');
    if (this.#probe.length >= PROBE_BYTES) this.#probing = false;
    const err = startLinePrefixError(this.#syntax, this.#probe);
    if (err) throw err;
  }

  readonly #startFault = (why: LineFault): WireError =>
    why === 'too-long'
      ? headTooLarge(`start line longer than ${this.#maxBytes} bytes`)
      : new WireError(ERROR_CODES.WIRE_MALFORMED_START_LINE, 'malformed start line: it ends with a bare LF instead of CRLF');
}
