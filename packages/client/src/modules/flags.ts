import type { Argv } from 'yargs';
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
    }) as unknown as Argv<T>;
}

export function moduleSourcesOf(args: { readonly 'config.file'?: readonly string[]; readonly 'config.dirs'?: readonly string[] }): ModuleSources {
  return Object.freeze({ files: Object.freeze([...(args['config.file'] ?? [])]), dirs: Object.freeze([...(args['config.dirs'] ?? [])]) });
}
