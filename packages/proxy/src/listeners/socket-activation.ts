/**
 * systemd socket activation (sd_listen_fds(3)): the service manager opens the
 * listening sockets and hands them to the process as file descriptors 3, 4, …
 * with LISTEN_FDS (how many), LISTEN_PID (the process they are meant for) and,
 * optionally, LISTEN_FDNAMES (colon-separated names, from FileDescriptorName=).
 * The sockets outlive the process, so during a restart connections wait in
 * the kernel's backlog instead of being refused.
 */

/** The first file descriptor passed (SD_LISTEN_FDS_START). */
export const SD_LISTEN_FDS_START = 3;
/** FileDescriptorName= of the socket for clients only, when scrapes and clients have a socket each. */
export const CLIENT_FD_NAME = 'client';

/** An inherited listening socket. */
export interface InheritedSocket {
  readonly fd: number;
  /** Its LISTEN_FDNAMES entry, or `unknown` as sd_listen_fds_with_names gives when none is set. */
  readonly name: string;
}

export interface InheritedListeners {
  /** Scrapes (and clients too, with one socket). */
  readonly main: InheritedSocket;
  /** Clients only (`/poll`, `/push`, enrollment); undefined with one socket. */
  readonly client: InheritedSocket | undefined;
}

/**
 * The listeners passed in `env` for process `pid`, as sd_listen_fds with
 * unset_environment: the three variables are removed from `env` so that no
 * child takes them for its own. One socket serves both roles; with two, the
 * one named CLIENT_FD_NAME (else the second) is the client listener. Throws,
 * saying what was expected and what arrived, when the variables are missing,
 * meant for another process, or name other than one or two sockets.
 */
export function inheritedListeners(env: NodeJS.ProcessEnv, pid: number): InheritedListeners {
  const { LISTEN_FDS: fds, LISTEN_PID: forPid, LISTEN_FDNAMES: names } = env;
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  const hint = 'run under a systemd .socket unit (see examples/systemd/pushprox-proxy.socket), or without --web.systemd-socket';
  if (fds === undefined || forPid === undefined) {
    throw new Error(`--web.systemd-socket: expected LISTEN_FDS and LISTEN_PID from systemd, got ${fds === undefined ? 'no LISTEN_FDS' : 'no LISTEN_PID'}: ${hint}`);
  }
  if (!/^\d{1,9}$/.test(forPid) || Number(forPid) !== pid) {
    throw new Error(`--web.systemd-socket: expected LISTEN_PID=${pid} (this process), got ${JSON.stringify(forPid.slice(0, 32))}: the sockets were passed to another process`);
  }
  const n = /^\d{1,4}$/.test(fds) ? Number(fds) : NaN;
  if (n !== 1 && n !== 2) {
    throw new Error(`--web.systemd-socket: expected LISTEN_FDS=1 (one listener) or 2 (scrapes and clients), got ${JSON.stringify(fds.slice(0, 32))}`);
  }
  const named = names?.split(':') ?? [];
  const sockets = Array.from({ length: n }, (_, i) => ({ fd: SD_LISTEN_FDS_START + i, name: named[i] || 'unknown' }));
  if (n === 1) return { main: sockets[0]!, client: undefined };
  const at = sockets.findIndex((s) => s.name === CLIENT_FD_NAME);
  const client = sockets[at < 0 ? 1 : at]!;
  return { main: sockets.find((s) => s !== client)!, client };
}
