/**
 * Byte sizes as Prometheus writes them (`body_size_limit: 100MB`): units are
 * powers of 1024 (KB = KiB); `B` or no unit means bytes; `0` means no limit
 * where a caller says so.
 */
const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

export function parseByteSize(input: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(input);
  const scale = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || scale === undefined) {
    throw new Error(`expected a byte size such as 512MB, 64KiB or 1048576, got ${JSON.stringify(input)}`);
  }
  const n = Math.floor(Number(m[1]) * scale);
  if (!Number.isSafeInteger(n)) throw new Error(`byte size ${JSON.stringify(input)} is out of range`);
  return n;
}
