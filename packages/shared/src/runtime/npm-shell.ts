/**
 * npm runs a package's bin (`npx pushprox-proxy`, `npm exec`, `npm run`) as
 * `sh -c '<bin> <args>'` and forwards SIGINT and SIGTERM to that shell only.
 * Debian's sh (dash) neither execs the command nor passes the signal on: it
 * dies, and the program goes on running with init as its parent, so a
 * supervisor that stops `npx` leaves it behind. (bash execs a lone command,
 * so `--script-shell=/bin/bash` hides the problem.)
 *
 * Under npm (its `npm_lifecycle_event` in the environment) the program
 * therefore watches its parent: once the parent is gone (the parent PID
 * changed: reparented to init or a subreaper), it sends itself SIGTERM and
 * shuts down as if signalled. Outside npm nothing is watched, so a program
 * started with `nohup ... &` or by systemd outlives its parent as before.
 * Nor on Windows: npm runs bins through cmd.exe there, not dash, and a
 * SIGTERM sent to itself would end the process without running any handler.
 */

export interface NpmShellWatchOptions {
  /** Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** How often the parent is checked. Default 1000 ms (an unref'd timer: it never keeps the process up). */
  readonly intervalMs?: number;
  /** Called once the parent is gone. Default: SIGTERM to this process, so its own handlers shut it down. */
  readonly onOrphaned?: () => void;
  /** Default process.platform; nothing is watched on 'win32'. */
  readonly platform?: NodeJS.Platform;
}

/** Starts the watch when run under npm; returns a function that stops it (a no-op otherwise). */
export function followNpmParent(opts: NpmShellWatchOptions = {}): () => void {
  const env = opts.env ?? process.env;
  const parent = process.ppid;
  // Already orphaned (parent 1), not started by npm, or on Windows: nothing to follow.
  if (env['npm_lifecycle_event'] === undefined || parent <= 1 || (opts.platform ?? process.platform) === 'win32') return () => undefined;
  const onOrphaned = opts.onOrphaned ?? (() => process.kill(process.pid, 'SIGTERM'));
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onOrphaned();
  }, opts.intervalMs ?? 1000);
  timer.unref();
  return () => clearInterval(timer);
}
