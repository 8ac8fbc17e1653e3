import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '@pushprox/shared';
import { MAX_INI_BYTES, readOitcConfig } from './load-ini.js';
import { moduleConfigError, readExpexpConfig, readExpexpModuleFile } from './load-yaml.js';
import type { ModuleConfig, ModuleSet } from './types.js';

/** Where modules come from (--config.file, --config.dirs); read again whole on every reload. */
export interface ModuleSources {
  /** exporter_exporter YAML files, or openITCOCKPIT `.ini` files (by extension). Default none. */
  readonly files: readonly string[];
  /** Directories of one-module YAML files, named after the file (exporter_exporter's -config.dirs). Default none. */
  readonly dirs: readonly string[];
}

/** Each file's size limit: configuration, not data. */
const MAX_FILE_BYTES = MAX_INI_BYTES;
/** Files read from one directory, at most. */
export const MAX_DIR_FILES = 1024;
const YAML_EXT = new Set(['.yml', '.yaml']);

async function readConfigText(file: string): Promise<string> {
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_FILE_BYTES) throw new Error(`${st.size} bytes, more than the ${MAX_FILE_BYTES} allowed`);
    return await readFile(file, 'utf8');
  } catch (err) {
    throw moduleConfigError(`cannot read module configuration ${file}: ${messageOf(err)}`);
  }
}

/**
 * Reads every source into one frozen set; throws (CONFIG_INVALID, naming the
 * file and field) on any error, including a module name defined twice.
 * `onSkip` hears of directory entries that are not YAML files, as
 * exporter_exporter logs them; `onWarn` of what is read but ignored.
 */
export async function loadModuleSet(sources: ModuleSources, onSkip?: (file: string) => void, onWarn?: (message: string) => void): Promise<ModuleSet> {
  const modules = new Map<string, ModuleConfig>();
  let defaultModule: string | undefined;
  const add = (m: ModuleConfig): void => {
    const prev = modules.get(m.name);
    if (prev) throw moduleConfigError(`module ${m.name} is already defined (in ${prev.source}, again in ${m.source})`);
    modules.set(m.name, m);
  };
  for (const file of sources.files) {
    const text = await readConfigText(file);
    if (path.extname(file).toLowerCase() === '.ini') {
      readOitcConfig(text, file, (where, keys) => onWarn?.(`${where}: ignoring keys the agent does not know: ${keys.join(', ')}`)).forEach(add);
    } else {
      const cfg = readExpexpConfig(text, file);
      cfg.modules.forEach(add);
      if (cfg.defaultModule !== undefined) defaultModule = cfg.defaultModule;
    }
  }
  for (const dir of sources.dirs) {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (err) {
      throw moduleConfigError(`failed reading directory ${dir} (--config.dirs): ${messageOf(err)}`);
    }
    if (names.length > MAX_DIR_FILES) throw moduleConfigError(`${dir} (--config.dirs) has ${names.length} entries; at most ${MAX_DIR_FILES} are read`);
    for (const entry of names) {
      const full = path.join(dir, entry);
      const ext = path.extname(entry);
      if (!YAML_EXT.has(ext) || !(await stat(full).then((s) => s.isFile(), () => false))) {
        onSkip?.(full);
        continue;
      }
      add(readExpexpModuleFile(entry.slice(0, -ext.length), await readConfigText(full), full));
    }
  }
  if (defaultModule !== undefined && !modules.has(defaultModule)) {
    throw moduleConfigError(`defaultModule ${JSON.stringify(defaultModule)} is not a defined module (defined: ${[...modules.keys()].join(', ') || 'none'})`);
  }
  return Object.freeze({ modules, defaultModule });
}
