import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Proc } from '../src/procs.js';

/**
 * Heap snapshots of a program started with `--heapsnapshot-signal=SIGUSR2`
 * and its working directory in `dir`: the diagnostic the leak scenario uses to
 * tell a leak (live objects grow) from allocator and GC noise (RSS drifts).
 * V8 runs full GCs before it writes a snapshot, so the program's heap right
 * after one is its live set.
 */
export const SNAPSHOT_SIGNAL = 'SIGUSR2';
export const SNAPSHOT_NODE_FLAG = `--heapsnapshot-signal=${SNAPSHOT_SIGNAL}`;

/**
 * Signals `proc` and resolves with the snapshot's path once `ping` answers
 * (Node writes the snapshot synchronously on the main thread, so an answer
 * means the file is complete). Rejects after `timeoutMs`.
 */
export async function takeHeapSnapshot(proc: Proc, dir: string, ping: () => Promise<unknown>, timeoutMs = 120_000): Promise<string> {
  const mine = () => readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot') && f.includes(`.${proc.pid}.`));
  const before = new Set(mine());
  proc.signal(SNAPSHOT_SIGNAL);
  const end = Date.now() + timeoutMs;
  for (;;) {
    const fresh = mine().find((f) => !before.has(f));
    if (fresh) {
      await ping();
      return path.join(dir, fresh);
    }
    if (!proc.running) throw new Error(`${proc.name} exited while writing a heap snapshot:\n${proc.output}`);
    if (Date.now() > end) throw new Error(`${proc.name} wrote no heap snapshot in ${dir} within ${timeoutMs} ms of ${SNAPSHOT_SIGNAL}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Live objects of one constructor (V8 node name) in a snapshot. */
export interface ClassTotal {
  readonly count: number;
  readonly bytes: number;
}

interface SnapshotJson {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Shallow size and count per node name, over the object-like node types; plus the whole snapshot. */
export function summarizeSnapshot(file: string): { total: ClassTotal; byClass: Map<string, ClassTotal> } {
  const j = JSON.parse(readFileSync(file, 'utf8')) as SnapshotJson;
  const fields = j.snapshot.meta.node_fields;
  const types = j.snapshot.meta.node_types[0];
  const [fType, fName, fSize, width] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size'), fields.length];
  const byClass = new Map<string, ClassTotal>();
  let count = 0;
  let bytes = 0;
  for (let i = 0; i < j.nodes.length; i += width) {
    const type = types[j.nodes[i + fType]!]!;
    const size = j.nodes[i + fSize]!;
    count++;
    bytes += size;
    // Strings, code and the like are keyed by their type; objects by constructor.
    const key = type === 'object' || type === 'closure' || type === 'native' ? `${type}:${j.strings[j.nodes[i + fName]!]}` : type;
    const t = byClass.get(key) ?? { count: 0, bytes: 0 };
    byClass.set(key, { count: t.count + 1, bytes: t.bytes + size });
  }
  return { total: { count, bytes }, byClass };
}

/** The `top` node names whose live bytes grew most from snapshot `a` to `b`. */
export function snapshotGrowth(a: string, b: string, top = 8) {
  const sa = summarizeSnapshot(a);
  const sb = summarizeSnapshot(b);
  const keys = new Set([...sa.byClass.keys(), ...sb.byClass.keys()]);
  const rows = [...keys].map((k) => {
    const x = sa.byClass.get(k) ?? { count: 0, bytes: 0 };
    const y = sb.byClass.get(k) ?? { count: 0, bytes: 0 };
    return { name: k, count: y.count - x.count, kb: Math.round((y.bytes - x.bytes) / 1024) };
  });
  rows.sort((p, q) => q.kb - p.kb);
  const mb = (n: number) => Number((n / 1048576).toFixed(2));
  return {
    files: [path.basename(a), path.basename(b)],
    file_mb: [mb(statSync(a).size), mb(statSync(b).size)],
    live_mb: [mb(sa.total.bytes), mb(sb.total.bytes)],
    live_objects: [sa.total.count, sb.total.count],
    top_growth: rows.slice(0, top),
  };
}
