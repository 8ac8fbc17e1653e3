import type http from 'node:http';
import type { Server as TlsServer } from 'node:tls';
import type { TlsSettings, WebConfig } from '../auth/web-config.js';
import type { BasicAuth } from '../auth/basic-auth.js';
import { checkTlsReload, secureContextOptions } from './tls.js';

export interface ReloadedWebConfig {
  /** --web.config.file; undefined when not given. */
  readonly web: WebConfig | undefined;
  /** --web.client-config.file; undefined when not given. */
  readonly clientWeb: WebConfig | undefined;
}

/**
 * Re-read web config files applied to running listeners: basic auth users,
 * and the TLS material of each listener that speaks TLS (setSecureContext:
 * new connections use it, open ones keep theirs). With a separate client
 * listener its TLS comes from --web.client-config.file, else from the main file.
 */
export class WebReload {
  readonly #split: boolean;
  readonly #auth: BasicAuth;
  readonly #started: { readonly main: TlsSettings | undefined; readonly client: TlsSettings | undefined };
  readonly #servers: Array<{ readonly client: boolean; readonly server: http.Server }> = [];

  constructor(split: boolean, started: ReloadedWebConfig, auth: BasicAuth) {
    this.#split = split;
    this.#auth = auth;
    this.#started = this.#tls(started);
  }

  /** A listener opened with TLS; `client` for the client listener of a split proxy. */
  secured(server: http.Server, client: boolean): void {
    this.#servers.push({ server, client });
  }

  /** Throws unless `next` can replace the running settings without a restart (checkTlsReload). */
  check(next: ReloadedWebConfig): void {
    const tls = this.#tls(next);
    checkTlsReload(this.#split ? 'the scraper listener' : 'the listener', this.#started.main, tls.main);
    if (this.#split) checkTlsReload('the client listener', this.#started.client, tls.client);
  }

  apply(next: ReloadedWebConfig): void {
    this.check(next);
    this.#auth.setUsers(next.web?.users ?? new Map());
    const tls = this.#tls(next);
    for (const { server, client } of this.#servers) {
      const settings = client ? tls.client : tls.main;
      if (settings) (server as unknown as TlsServer).setSecureContext(secureContextOptions(settings));
    }
  }

  #tls(c: ReloadedWebConfig) {
    return { main: c.web?.tls, client: this.#split ? (c.clientWeb?.tls ?? c.web?.tls) : c.web?.tls };
  }
}
