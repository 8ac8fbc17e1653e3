import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import PQueue from 'p-queue';
import { formatDuration, messageOf, type Logger } from '@pushprox/shared';
import { ExporterBodyError } from '../scraping/exporter-body.js';
import type { ExecModule, ModuleResponse } from './types.js';

/** Commands run at once, at most; a scrape waits for a slot only until its deadline. */
export const DEFAULT_EXEC_CONCURRENCY = 4;
/** stderr kept per run for the log; the rest is read and dropped. */
export const STDERR_LOG_BYTES = 4096;

export const METRICS_TEXT_HEADERS = Object.freeze(['Content-Type', 'text/plain; version=0.0.4; charset=utf-8']);

export interface ExecRun {
  /** Appended to the module's args as literal argv entries (exporter_exporter's `args=`). */
  readonly extraArgs: readonly string[];
  /** Aborts the run (scrape deadline, module timeout, client stop): the process group is killed. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
}

/**
 * Runs exec modules: argv only, never a shell. Each command leads its own
 * process group (detached), so a timeout, an abort or a consumer that stops
 * reading kills the command and everything it started (process.kill(-pid)).
 * Invariant: once spawned, the group is killed unless the command exited and
 * its output was read to the end.
 */
export class ExecRunner {
  readonly #queue: PQueue;

  constructor(concurrency = DEFAULT_EXEC_CONCURRENCY) {
    this.#queue = new PQueue({ concurrency });
  }

  /** Resolves once the command has started; its stdout is the body, which fails if it exits non-zero. */
  run(m: ExecModule, run: ExecRun): Promise<ModuleResponse> {
    return new Promise<ModuleResponse>((resolve, reject) => {
      this.#queue
        .add(
          () =>
            new Promise<void>((released) => {
              this.#start(m, run, released).then(resolve, (err: unknown) => {
                released();
                reject(err);
              });
            }),
          { signal: run.signal },
        )
        .catch((err: unknown) => reject(new ExporterBodyError(`module ${m.name}: no command slot before the deadline (${messageOf(err)})`)));
    });
  }

  async #start(m: ExecModule, run: ExecRun, released: () => void): Promise<ModuleResponse> {
    if (run.signal.aborted) throw new ExporterBodyError(`module ${m.name}: ${messageOf(run.signal.reason)}`);
    const child = spawn(m.command, [...m.args, ...run.extraArgs], {
      detached: true,
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...m.env },
    });
    const pid = child.pid;
    /** 'close': the command exited and every holder of its stdout and stderr (children too) let go. */
    let closed = false;
    // Not `exitCode`: a command that exited may have left children in its group holding its output.
    const killGroup = (): void => {
      if (pid === undefined || closed) return;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // The group is gone already.
      }
    };
    const body = new PassThrough();
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < STDERR_LOG_BYTES) stderr += c.toString('utf8', 0, STDERR_LOG_BYTES - stderr.length);
    });
    child.stderr.on('error', () => undefined);
    child.stdout.on('error', (err) => body.destroy(new ExporterBodyError(`module ${m.name}: reading the command's output failed: ${messageOf(err)}`)));
    child.stdout.pipe(body, { end: false });
    const onAbort = (): void => {
      killGroup();
      body.destroy(new ExporterBodyError(`module ${m.name}: ${messageOf(run.signal.reason)}; killed the command's process group`));
    };
    run.signal.addEventListener('abort', onAbort, { once: true });
    // The consumer stopped (push failed, body cut): nobody reads the output, so the command ends.
    body.once('close', killGroup);
    child.once('close', (code, sig) => {
      closed = true;
      run.signal.removeEventListener('abort', onAbort);
      released();
      if (stderr !== '') run.logger.warn('Exec module wrote to stderr', { module: m.name, stderr: stderr.trimEnd() });
      if (code === 0) body.end();
      else {
        const how = code !== null ? `exited with status ${code}` : `was killed by ${sig}`;
        const tail = stderr.trim() === '' ? '' : `: ${stderr.trim().split('\n').pop()!.slice(0, 200)}`;
        body.destroy(new ExporterBodyError(`module ${m.name}: command ${m.command} ${how}${tail}`));
      }
    });
    await new Promise<void>((ok, fail) => {
      child.once('spawn', ok);
      child.once('error', (err) => {
        body.destroy();
        fail(new ExporterBodyError(`module ${m.name}: cannot run ${m.command}: ${messageOf(err)}`));
      });
    });
    child.on('error', () => undefined);
    return { statusCode: 200, statusText: 'OK', headers: [...METRICS_TEXT_HEADERS], body };
  }
}

/** The abort reason for a module's own `timeout`. */
export function moduleTimeout(name: string, ms: number): Error {
  return new Error(`timeout after ${formatDuration(ms)} (module ${name} timeout)`);
}
