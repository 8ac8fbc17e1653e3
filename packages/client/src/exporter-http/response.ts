import type { Readable } from 'node:stream';

/** An exporter's response as plain-http.ts or undici gives it, or a module's answer in the same shape. */
export interface RelayedResponse {
  readonly statusCode: number;
  readonly statusText?: string;
  /** Flat [name, value, …] (undici's `responseHeaders: 'raw'`, as strings). */
  readonly headers: unknown;
  readonly body: Readable;
  /**
   * The whole body, when it was read with the head (plain-http.ts, a small
   * response with a Content-Length): the push takes it as it is, and `body`
   * is then an ended stream nobody needs to read.
   */
  readonly whole?: Buffer;
}
