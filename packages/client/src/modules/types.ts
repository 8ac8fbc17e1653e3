import type { Readable } from 'node:stream';
import type { ClientModuleMeta, ModuleStyle } from '@pushprox/shared';

/**
 * Named modules, as exporter_exporter (`expexp.yaml`, `-config.dirs`) and the
 * openITCOCKPIT agent (`prometheus_exporters.ini`) define them. A module set
 * is immutable once loaded; a reload builds a new one and swaps it whole.
 */

interface ModuleBase {
  /** MODULE_NAME_RE (packages/shared/src/protocol/client-meta.ts). */
  readonly name: string;
  /** `expexp` for YAML modules, `oitc` for `.ini` sections. */
  readonly style: ModuleStyle;
  /** Module `timeout` in ms; 0: only the scrape's own timeout bounds it (exporter_exporter's default). */
  readonly timeoutMs: number;
  /** Check the output is Prometheus text 0.0.4 / OpenMetrics 1.0 while it streams. Default true. */
  readonly verify: boolean;
  /** The file that defined it, for messages. */
  readonly source: string;
}

export interface HttpModule extends ModuleBase {
  readonly method: 'http';
  /** `http` (default) or `https`. */
  readonly scheme: 'http' | 'https';
  /** Host to scrape; default `localhost` as exporter_exporter (another host of the site: gateway use). */
  readonly address: string;
  readonly port: number;
  /** Path and optional query; default `/metrics`. */
  readonly path: string;
  /** Extra request headers, flat [name, value, …]. */
  readonly headers: readonly string[];
  readonly basicAuth: { readonly username: string; readonly password: string } | undefined;
  readonly tls: {
    readonly insecureSkipVerify: boolean;
    readonly caFile: string | undefined;
    readonly certFile: string | undefined;
    readonly keyFile: string | undefined;
    readonly serverName: string | undefined;
  };
}

export interface ExecModule extends ModuleBase {
  readonly method: 'exec';
  /** argv[0]; run without a shell. */
  readonly command: string;
  readonly args: readonly string[];
  /** Added to the client's environment. */
  readonly env: Readonly<Record<string, string>>;
}

export interface FileModule extends ModuleBase {
  readonly method: 'file';
  readonly path: string;
}

export type ModuleConfig = HttpModule | ExecModule | FileModule;

export interface ModuleSet {
  /** By name; names are unique across all files. */
  readonly modules: ReadonlyMap<string, ModuleConfig>;
  /** `defaultModule` of expexp.yaml: used by `/proxy` without `module=`. */
  readonly defaultModule: string | undefined;
}

export const EMPTY_MODULE_SET: ModuleSet = Object.freeze({ modules: new Map(), defaultModule: undefined });

/**
 * A module's answer in the shape undici gives an exporter's response, so the
 * push path (transport/push.ts responsePayload) relays both the same way.
 * `headers` flat [name, value, …].
 */
export interface ModuleResponse {
  readonly statusCode: number;
  readonly statusText: string;
  readonly headers: string[];
  readonly body: Readable;
}

/** How one run of a module ended (ModuleHostDeps.onResult): once its output ended, failed or was cut. */
export interface ModuleResult {
  readonly name: string;
  /** The module's status (an http module's, 200 for exec and file); 0 when it gave no answer. */
  readonly status: number;
  readonly durationMs: number;
  /** Why it failed (no answer, a non-2xx status, bad output, a timeout); undefined when it succeeded. */
  readonly error?: string;
}

/** The last reload of the module files (SIGHUP, POST /-/reload). */
export interface ModuleReloadState {
  readonly ok: boolean;
  /** Date.now() of the last attempt (of the start when none was made). */
  readonly at: number;
  /** Why the last attempt failed; undefined when it succeeded. */
  readonly error?: string;
}

/** What the client says about its modules in the metadata header (ClientMeta.modules), sorted by name. */
export function moduleMeta(set: ModuleSet): ClientModuleMeta[] {
  return [...set.modules.values()]
    .map((m) => ({ name: m.name, style: m.style }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
