/**
 * Incremental body decoding for every framing (RFC 9112 §6–§7), shared by
 * parse.ts and stream.ts.
 *
 * Decoded bytes are handed out as subarrays of the input chunks: body data is
 * never copied or looped over byte by byte. Only chunk-size lines and
 * trailers, which are small and bounded, are assembled across chunks.
 */

import { ERROR_CODES, WireError } from '../protocol/errors.js';
import { DEFAULT_MAX_HEAD_BYTES, DEFAULT_MAX_HEADERS, FieldSectionReader, LineReader, type LineFault } from './decoder.js';
import { quoteSnippet } from './syntax.js';
import type { BodyFraming, ParseLimits } from './types.js';

/** Longest chunk-size line (size plus extensions plus CRLF) accepted. */
export const MAX_CHUNK_LINE_BYTES = 4096;
const MAX_CHUNK_SIZE_DIGITS = 15;
const CR = 0x0d;
const LF = 0x0a;

// chunk = chunk-size [ chunk-ext ] CRLF (RFC 9112 §7.1); chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ).
// The classes below are disjoint where they meet, so matching is linear.
const TCHAR = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
const QUOTED = '"(?:[\\t\\x20\\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t\\x20-\\x7e\\x80-\\xff])*"';
const EXT = `[ \\t]*;[ \\t]*${TCHAR}+(?:[ \\t]*=[ \\t]*(?:${TCHAR}+|${QUOTED}))?`;
const CHUNK_LINE = new RegExp(`^([0-9A-Fa-f]+)(?:${EXT})*$`);

type State = 'size' | 'data' | 'data-crlf' | 'trailers' | 'length' | 'close' | 'done';

function invalidChunk(message: string): WireError {
  return new WireError(ERROR_CODES.WIRE_INVALID_CHUNK, message);
}

function tooLarge(max: number): WireError {
  return new WireError(ERROR_CODES.WIRE_BODY_TOO_LARGE, `body larger than ${max} bytes`);
}

export class BodyDecoder {
  readonly #maxBody: number;
  readonly #maxHeadBytes: number;
  readonly #maxHeaders: number;
  readonly #lines = new LineReader();
  #state: State;
  /** 'length'/'data': bytes still due; 'data-crlf': bytes of the CRLF already matched. */
  #remaining = 0;
  /** Decoded bytes so far; for chunked, counted when a chunk's size is read. */
  #decoded = 0;
  #trailers: FieldSectionReader | undefined;

  /** Throws WIRE_BODY_TOO_LARGE at once when a declared Content-Length exceeds maxBodyBytes. */
  constructor(framing: BodyFraming, limits?: ParseLimits) {
    this.#maxBody = limits?.maxBodyBytes ?? Number.POSITIVE_INFINITY;
    this.#maxHeadBytes = limits?.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES;
    this.#maxHeaders = limits?.maxHeaders ?? DEFAULT_MAX_HEADERS;
    switch (framing.kind) {
      case 'none':
        this.#state = 'done';
        break;
      case 'length':
        if (framing.length > this.#maxBody) throw tooLarge(this.#maxBody);
        this.#remaining = framing.length;
        this.#decoded = framing.length;
        this.#state = framing.length === 0 ? 'done' : 'length';
        break;
      case 'chunked':
        this.#state = 'size';
        break;
      case 'close':
        this.#state = 'close';
        break;
    }
  }

  /** True once the framing says the message is complete; later input is trailing data. */
  get done(): boolean {
    return this.#state === 'done';
  }

  /**
   * Decodes `chunk[offset..]`, appending body pieces (subarrays of `chunk`) to
   * `out`. Returns the offset where the message ended, or chunk.length.
   */
  write(chunk: Buffer, offset: number, out: Buffer[]): number {
    let pos = offset;
    while (pos < chunk.length) {
      switch (this.#state) {
        case 'done':
          return pos;
        case 'close': {
          if (this.#decoded + chunk.length - pos > this.#maxBody) throw tooLarge(this.#maxBody);
          this.#decoded += chunk.length - pos;
          out.push(pos === 0 ? chunk : chunk.subarray(pos));
          return chunk.length;
        }
        case 'length':
        case 'data': {
          const n = Math.min(this.#remaining, chunk.length - pos);
          out.push(pos === 0 && n === chunk.length ? chunk : chunk.subarray(pos, pos + n));
          pos += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = this.#state === 'length' ? 'done' : 'data-crlf';
          break;
        }
        case 'data-crlf': {
          if (chunk[pos] !== (this.#remaining === 0 ? CR : LF)) throw invalidChunk('chunk data is not followed by CRLF');
          pos++;
          if (++this.#remaining === 2) {
            this.#remaining = 0;
            this.#state = 'size';
          }
          break;
        }
        case 'size': {
          const r = this.#lines.read(chunk, pos, MAX_CHUNK_LINE_BYTES, chunkLineFault);
          if (r === undefined) return chunk.length;
          pos = r.next;
          this.#startChunk(r.line);
          break;
        }
        case 'trailers': {
          pos = this.#trailers!.write(chunk, pos);
          if (this.#trailers!.done) this.#state = 'done';
          break;
        }
      }
    }
    return pos;
  }

  /** Input ended: fine for close-delimited bodies, truncation for the rest. */
  end(): void {
    if (this.#state === 'close') this.#state = 'done';
    if (this.#state === 'done') return;
    const detail = this.#state === 'length' ? `${this.#remaining} bytes short of its Content-Length` : 'before its last chunk';
    throw new WireError(ERROR_CODES.WIRE_TRUNCATED, `message body ended ${detail}`);
  }

  #startChunk(line: string): void {
    const m = CHUNK_LINE.exec(line);
    if (m === null) throw invalidChunk(`malformed chunk-size line ${quoteSnippet(line)}`);
    const hex = m[1]!;
    if (hex.length > MAX_CHUNK_SIZE_DIGITS) throw invalidChunk(`chunk size has more than ${MAX_CHUNK_SIZE_DIGITS} hex digits`);
    const size = parseInt(hex, 16);
    if (!Number.isSafeInteger(size)) throw invalidChunk(`chunk size ${hex} is too large`);
    if (size === 0) {
      // last-chunk, then trailer-section (§7.1.2): checked like headers and dropped.
      this.#trailers = new FieldSectionReader(this.#maxHeadBytes, this.#maxHeadBytes, this.#maxHeaders);
      this.#state = 'trailers';
      return;
    }
    if (this.#decoded + size > this.#maxBody) throw tooLarge(this.#maxBody);
    this.#decoded += size;
    this.#remaining = size;
    this.#state = 'data';
  }
}

function chunkLineFault(why: LineFault): WireError {
  return invalidChunk(why === 'too-long' ? `chunk-size line longer than ${MAX_CHUNK_LINE_BYTES} bytes` : 'chunk-size line ends with a bare LF instead of CRLF');
}
