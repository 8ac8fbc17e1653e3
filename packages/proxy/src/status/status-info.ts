import type { FleetHistory } from './history.js';

/**
 * `/api/v1/status`: who the proxy is and how close it is to each limit.
 * Only values an operator needs; the configuration holds file paths and
 * durations, never a secret (passwords, tokens and keys stay in their files,
 * and their paths are shown, not their content).
 */

export interface ListenerInfo {
  readonly address: string;
  readonly role: string;
  readonly tls: boolean;
  /** The TLS client_auth_type, when TLS is on. */
  readonly clientAuth?: string;
}

export interface ReloadState {
  readonly lastSuccess: boolean;
  /** clock.now() of the last successful load (start-up counts). */
  readonly lastSuccessAt: number;
  /** Why the last reload failed; '' after a success. */
  readonly lastError: string;
}

export interface StatusInfoSources {
  readonly version: string;
  readonly startedAt: number;
  readonly listeners: () => readonly ListenerInfo[];
  readonly basicAuth: () => boolean;
  readonly clientTokens: () => boolean;
  readonly enrollment: boolean;
  readonly lifecycle: boolean;
  /** The resolved configuration, shown as is (see the module comment). */
  readonly config: Readonly<Record<string, unknown>>;
  readonly maxClients: number;
  readonly maxPollsPerFqdn: number;
  readonly pushMaxBodyBytes: number;
  readonly history: FleetHistory;
  readonly registered: () => number;
  readonly waitingPollsOf: (fqdn: string) => number;
  readonly reload: () => ReloadState;
}

function limit(used: number, max: number) {
  return { used, max: Number.isFinite(max) ? max : null, ratio: Number.isFinite(max) && max > 0 ? used / max : 0 };
}

export function statusJson(s: StatusInfoSources, now: number) {
  let polls = 0;
  for (const h of s.history.all()) polls = Math.max(polls, s.waitingPollsOf(h.name));
  const reload = s.reload();
  return {
    version: s.version,
    startTime: new Date(s.startedAt).toISOString(),
    uptimeSeconds: Math.max(0, (now - s.startedAt) / 1000),
    listeners: s.listeners(),
    auth: { basicAuth: s.basicAuth(), clientTokens: s.clientTokens(), enrollment: s.enrollment },
    lifecycle: s.lifecycle,
    reload: {
      lastSuccessful: reload.lastSuccess,
      lastSuccessTime: new Date(reload.lastSuccessAt).toISOString(),
      lastError: reload.lastError,
    },
    limits: {
      registeredClients: limit(s.registered(), s.maxClients),
      // The busiest FQDN's waiting polls against --poll.max-per-fqdn.
      pollsPerFqdn: limit(polls, s.maxPollsPerFqdn),
      // The largest body relayed since start against --push.max-body-size.
      bodyBytes: limit(s.history.largestBody, s.pushMaxBodyBytes),
    },
    config: s.config,
  };
}
