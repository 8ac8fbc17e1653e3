/**
 * Which signals stop a program and which one reloads its TLS files, per
 * platform.
 *
 * POSIX: SIGTERM (service managers, kill) and SIGINT (Ctrl-C) stop it;
 * SIGHUP re-reads the --tls.* files.
 *
 * Windows has no SIGTERM that a program can catch: `process.kill(pid,
 * 'SIGTERM')` and `taskkill /F` end a process without running any handler.
 * What a console program does receive (Node maps them to signal events):
 * Ctrl-C as SIGINT, Ctrl-Break as SIGBREAK, and closing its console window
 * as SIGHUP, after which Windows ends it about 10 s later. All three stop it
 * gracefully; nothing reloads (--tls.auto-renew reloads by itself, otherwise
 * restart the program after replacing the files).
 */
export interface SignalPlan {
  /** Each starts a graceful shutdown; a second one during shutdown exits at once. */
  readonly stop: readonly NodeJS.Signals[];
  /** Re-reads the TLS files without a restart; undefined where no signal can mean that. */
  readonly reload: NodeJS.Signals | undefined;
}

const POSIX: SignalPlan = Object.freeze({ stop: Object.freeze(['SIGTERM', 'SIGINT'] as const), reload: 'SIGHUP' });
const WINDOWS: SignalPlan = Object.freeze({ stop: Object.freeze(['SIGINT', 'SIGBREAK', 'SIGHUP'] as const), reload: undefined });

/** The plan for `platform` (default: this process's). */
export function signalPlan(platform: NodeJS.Platform = process.platform): SignalPlan {
  return platform === 'win32' ? WINDOWS : POSIX;
}
