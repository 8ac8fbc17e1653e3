import { execFile } from 'node:child_process';

export interface Ran {
  /** Exit code; -1 when the program could not run or was killed at the timeout. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to its end, bounded by `timeoutMs`; never rejects. */
export function run(cmd: string, args: readonly string[], timeoutMs = 15_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}
