import { execFile } from 'node:child_process';

export interface Ran {
  /** Exit code; null when a signal ended the program. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Killed (SIGKILL, by PID) past this. Default 15 s. */
  readonly timeoutMs?: number;
  /** Default: this process's working directory. */
  readonly cwd?: string;
}

/**
 * Runs a program to its end and resolves with its exit code and output, a
 * failing exit included. Rejects, saying which, if the program could not start
 * (ENOENT, ...) or was killed at the timeout, so a test never reads a hang as
 * an exit code.
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      [...args],
      { cwd: opts.cwd, timeout: opts.timeoutMs ?? 15_000, killSignal: 'SIGKILL', maxBuffer: 16 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof err.code === 'string') return reject(err);
        if (err?.killed) return reject(new Error(`${cmd} ${args.join(' ')} timed out after ${opts.timeoutMs ?? 15_000} ms:\n${stdout}\n${stderr}`));
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
      },
    );
  });
}
