import v8 from 'node:v8';

/**
 * V8 settings the client picks for itself, applied when this module is
 * evaluated: it is the first import of the entry point, so before any other
 * module is loaded and before the young generation has grown.
 *
 * `--semi-space-growth-factor=1` keeps the young generation at its initial
 * size (1 MiB semi-spaces) instead of letting it grow to 16 MiB: the client
 * holds at most --scrape.concurrency bodies in flight, each streamed in
 * chunks, so a large nursery buys it little and costs about 5 MB of private
 * memory idle and more under load. It is one of the few heap settings V8
 * reads after start-up: `--max-semi-space-size` or `--max-old-space-size`
 * set here would be ignored (the heap is configured when the isolate is
 * made), and re-executing node with them would double the start-up time and
 * keep a second process.
 *
 * Flags given by the operator win: if node's own options (NODE_OPTIONS or
 * the command line) mention the young generation, nothing is set.
 */
export const CLIENT_V8_FLAGS: readonly string[] = ['--semi-space-growth-factor=1'];

/** Whether node was started with an option about the young generation. */
export function operatorSetsYoungGeneration(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((a) => /semi[-_]space/.test(a));
}

if (!operatorSetsYoungGeneration(process.execArgv, process.env['NODE_OPTIONS'])) {
  for (const flag of CLIENT_V8_FLAGS) v8.setFlagsFromString(flag);
}
