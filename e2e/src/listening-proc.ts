import { rmSync } from 'node:fs';
import { waitListening } from './ports.js';
import { Proc } from './procs.js';

export interface ListeningProc {
  readonly proc: Proc;
  /** Stops the program by its PID and removes its directory. */
  stop(): Promise<void>;
}

/**
 * Starts `cmd`, whose configuration and state live in the temporary `dir`,
 * and waits until it listens on 127.0.0.1:`port`. If it never does, it is
 * killed, `dir` removed, and the error carries its output. `stopSignal` is
 * the program's graceful stop.
 */
export async function startListening(
  name: string,
  cmd: string,
  args: readonly string[],
  o: { port: number; dir: string; stopSignal: NodeJS.Signals },
): Promise<ListeningProc> {
  const proc = new Proc(name, cmd, args);
  try {
    await waitListening('127.0.0.1', o.port);
  } catch (err) {
    await proc.stop('SIGKILL');
    rmSync(o.dir, { recursive: true, force: true });
    throw new Error(`${name} did not listen on ${o.port}: ${(err as Error).message}\n${proc.output}`);
  }
  return {
    proc,
    async stop() {
      await proc.stop(o.stopSignal, 5000);
      rmSync(o.dir, { recursive: true, force: true });
    },
  };
}
