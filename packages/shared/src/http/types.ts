import type { WireHeaders } from './headers.js';

/** `HTTP/<major>.<minor>`; `HTTP/0.0` occurs in upstream's error pushes. */
export interface HttpVersion {
  readonly major: number;
  readonly minor: number;
}

export interface RequestHead {
  readonly method: string;
  /** Request-target exactly as on the wire: origin-form `/x?y` or absolute-form `http://h:p/x`. */
  readonly target: string;
  readonly version: HttpVersion;
  readonly headers: WireHeaders;
}

export interface ResponseHead {
  readonly version: HttpVersion;
  readonly status: number;
  /** Reason phrase, possibly empty. */
  readonly reason: string;
  readonly headers: WireHeaders;
}

/** How the body of a parsed message is delimited (RFC 9112 §6.3). */
export type BodyFraming =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  | { readonly kind: 'close' };

export interface ParseLimits {
  /** Largest start line plus header section, in bytes. Default 64 KiB. */
  readonly maxHeadBytes?: number;
  /** Most header fields. Default 256. */
  readonly maxHeaders?: number;
  /** Largest decoded body, in bytes. Default: no limit. */
  readonly maxBodyBytes?: number;
}
