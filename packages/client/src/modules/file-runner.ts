import { open } from 'node:fs/promises';
import { messageOf } from '@pushprox/shared';
import { ExporterBodyError } from '../scraping/exporter-body.js';
import { METRICS_TEXT_HEADERS } from './exec-runner.js';
import type { FileModule, ModuleResponse } from './types.js';

/**
 * A file module: the file's bytes as the body, streamed (a file that grows
 * while read is cut by the push limits). A missing or unreadable file fails
 * the scrape with the reason; the read stops when `signal` aborts.
 */
export async function runFile(m: FileModule, signal: AbortSignal): Promise<ModuleResponse> {
  let handle;
  try {
    handle = await open(m.path, 'r');
    const st = await handle.stat();
    if (!st.isFile()) throw new Error('not a regular file');
  } catch (err) {
    await handle?.close().catch(() => undefined);
    throw new ExporterBodyError(`module ${m.name}: cannot read ${m.path}: ${messageOf(err)}`);
  }
  const body = handle.createReadStream({ autoClose: true });
  const onAbort = (): void => {
    body.destroy(new ExporterBodyError(`module ${m.name}: ${messageOf(signal.reason)}`));
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  body.once('close', () => signal.removeEventListener('abort', onAbort));
  return { statusCode: 200, statusText: 'OK', headers: [...METRICS_TEXT_HEADERS], body };
}
