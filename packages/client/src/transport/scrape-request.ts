import type { RequestHead } from '@pushprox/shared';

/**
 * A scrape request the proxy handed over (in a poll reply or a channel's
 * REQUEST frame), as the transports give it to the scrape jobs.
 */
export interface ScrapeRequest {
  readonly head: RequestHead;
  readonly body: Buffer;
  /** performance.now() when the poll reply arrived; the deadline counts from here. */
  readonly receivedAt: number;
}
