import { createRequire } from 'node:module';
import type * as Undici from 'undici';

/**
 * The parts of undici the client uses, loaded without undici's index.
 *
 * The index also loads fetch, WebSocket, EventSource, the caches, the mocks
 * and the interceptors, none of which the client uses: measured on Node 20
 * with undici 7.30, it grew a process's private memory (RssAnon) by 11 MB
 * against 5 MB for these modules, on a client whose whole private memory was
 * about 36 MB. The index also puts the request API (`request()` and the
 * others) on Dispatcher's prototype; `loadUndiciParts()` does the same, with
 * the same functions, so either order of loading gives one and the same
 * prototype.
 *
 * undici has no exports map, so these paths are reachable, but they are not
 * its documented API: if one is missing or is not what it was, the index is
 * loaded instead. The client then works as before and only the saving is lost;
 * a test fails on the version in the lockfile if that happens.
 */
export interface UndiciParts {
  readonly Agent: typeof Undici.Agent;
  readonly Dispatcher: typeof Undici.Dispatcher;
  readonly ProxyAgent: typeof Undici.ProxyAgent;
  /** True when the parts came from their own modules, false when from the index. */
  readonly direct: boolean;
}

const MODULES = {
  Agent: 'undici/lib/dispatcher/agent.js',
  Dispatcher: 'undici/lib/dispatcher/dispatcher.js',
  ProxyAgent: 'undici/lib/dispatcher/proxy-agent.js',
  api: 'undici/lib/api/index.js',
} as const;

/** The request API the index assigns to Dispatcher.prototype. */
const API_METHODS = ['request', 'stream', 'pipeline', 'upgrade', 'connect'] as const;

/** Loads the parts with `require` (a parameter so that tests can hide a module). */
export function loadUndiciParts(require: (id: string) => unknown = createRequire(import.meta.url)): UndiciParts {
  try {
    const Agent: unknown = require(MODULES.Agent);
    const Dispatcher: unknown = require(MODULES.Dispatcher);
    const ProxyAgent: unknown = require(MODULES.ProxyAgent);
    const api = require(MODULES.api) as Record<string, unknown> | undefined;
    const D = Dispatcher as typeof Undici.Dispatcher;
    const intact =
      [Agent, Dispatcher, ProxyAgent].every((c) => typeof c === 'function') &&
      API_METHODS.every((m) => typeof api?.[m] === 'function') &&
      (Agent as typeof Undici.Agent).prototype instanceof D;
    if (intact) {
      Object.assign(D.prototype, api);
      return {
        Agent: Agent as typeof Undici.Agent,
        Dispatcher: D,
        ProxyAgent: ProxyAgent as typeof Undici.ProxyAgent,
        direct: true,
      };
    }
  } catch {
    // A moved module: fall through to the index.
  }
  const index = require('undici') as typeof Undici;
  return { Agent: index.Agent, Dispatcher: index.Dispatcher, ProxyAgent: index.ProxyAgent, direct: false };
}

export const undici: UndiciParts = Object.freeze(loadUndiciParts());
