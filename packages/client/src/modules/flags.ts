import type { Argv } from 'yargs';
import { listenAddressFlag, type ListenAddress } from '@pushprox/shared';
import type { ModuleSources } from './load.js';

/** Comma-separated file or directory names (flags are given once each; see baseCli). */
function fileList(v: unknown): string[] {
  if (v === undefined || v === '') return [];
  return String(v)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** The module flags: exporter_exporter's -config.file and -config.dirs (Go-style single dash works too). */
export function moduleFlags<T>(parser: Argv<T>): Argv<T> {
  return parser
    .option('config.file', {
      type: 'string',
      describe:
        'Module files, comma-separated: exporter_exporter YAML (expexp.yaml), or openITCOCKPIT agent prometheus_exporters.ini (by the .ini extension). Modules are scraped at http://<fqdn>/proxy?module=NAME or /prometheus?exporter=NAME',
      defaultDescription: 'no modules',
      coerce: fileList,
    })
    .option('config.dirs', {
      type: 'string',
      describe: 'Directories of one-module YAML files (*.yml, *.yaml), each module named after its file, comma-separated (exporter_exporter\'s -config.dirs)',
      defaultDescription: 'none',
      coerce: fileList,
    })
    .option('web.listen-address', {
      type: 'string',
      describe:
        'Also serve the modules directly on this address, as exporter_exporter and the openITCOCKPIT agent do (/proxy?module=, /, /prometheus?exporter=, /metrics)',
      defaultDescription: 'not served',
      coerce: (v: unknown) => (v === undefined || v === '' ? undefined : listenAddressFlag('web.listen-address')(v)),
    })
    .option('web.config.file', {
      type: 'string',
      describe: 'TLS (tls_server_config) and basic auth (basic_auth_users) of --web.listen-address, in the exporter-toolkit format the proxy reads',
      defaultDescription: 'plain http, no auth',
    })
    .option('web.enable-lifecycle', {
      type: 'boolean',
      default: false,
      describe: 'Accept POST /-/reload on --web.listen-address to re-read the module files (SIGHUP does too)',
    }) as unknown as Argv<T>;
}

export function hasModuleSources(s: ModuleSources | undefined): s is ModuleSources {
  return s !== undefined && (s.files.length > 0 || s.dirs.length > 0);
}

export function moduleSourcesOf(args: { readonly 'config.file'?: readonly string[]; readonly 'config.dirs'?: readonly string[] }): ModuleSources {
  return Object.freeze({ files: Object.freeze([...(args['config.file'] ?? [])]), dirs: Object.freeze([...(args['config.dirs'] ?? [])]) });
}

/** The client's own listener, resolved from --web.*; undefined without --web.listen-address. */
export interface DirectWebConfig {
  readonly listen: ListenAddress;
  /** --web.config.file. Default none. */
  readonly configFile: string | undefined;
  /** --web.enable-lifecycle. Default false. */
  readonly lifecycle: boolean;
}

export function directWebOf(args: {
  readonly 'web.listen-address'?: ListenAddress | undefined;
  readonly 'web.config.file'?: string | undefined;
  readonly 'web.enable-lifecycle'?: boolean;
}): DirectWebConfig | undefined {
  const listen = args['web.listen-address'];
  if (listen === undefined) {
    const stray = (['web.config.file', 'web.enable-lifecycle'] as const).filter((f) => Boolean(args[f]));
    if (stray.length > 0) throw new Error(`${stray.map((f) => `--${f}`).join(' and ')} need --web.listen-address (the client's own listener)`);
    return undefined;
  }
  return Object.freeze({ listen, configFile: args['web.config.file'] || undefined, lifecycle: args['web.enable-lifecycle'] ?? false });
}
