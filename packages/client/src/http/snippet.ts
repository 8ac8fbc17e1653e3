import type { Readable } from 'node:stream';

/** The first `max` bytes of a body as text; the rest is discarded. */
export async function readSnippet(body: Readable, max: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      parts.push(buf);
      size += buf.length;
      if (size >= max) break;
    }
  } catch {
    // The snippet is best effort; whatever arrived is enough for a log line.
  }
  if (!body.destroyed) body.destroy();
  return Buffer.concat(parts).subarray(0, max).toString('utf8');
}
