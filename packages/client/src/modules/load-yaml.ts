import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { ERROR_CODES, MODULE_NAME_RE, parseDuration, PushProxError } from '@pushprox/shared';
import type { ExecModule, FileModule, HttpModule, ModuleConfig } from './types.js';

/**
 * exporter_exporter's `expexp.yaml` (and its one-module files of
 * `-config.dirs`), read unchanged. As there, a field it does not know is an
 * error that names the field.
 */

type Obj = Record<string, unknown>;

export function moduleConfigError(message: string): PushProxError {
  return new PushProxError(ERROR_CODES.CONFIG_INVALID, message);
}

/** yaml is loaded on first use: most clients have no YAML file, and it costs 3 MB. */
export function parseYamlText(text: string, file: string): unknown {
  const { parse } = createRequire(import.meta.url)('yaml') as typeof Yaml;
  try {
    return parse(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    throw moduleConfigError(`${file} is not valid YAML: ${(err as Error).message}`);
  }
}

const TOP_FIELDS = ['global', 'modules', 'defaultModule'];
const MODULE_FIELDS = ['method', 'timeout', 'http', 'exec', 'file'];
const HTTP_FIELDS = [
  'verify', 'tls_insecure_skip_verify', 'tls_cert_file', 'tls_key_file', 'tls_ca_cert_file', 'server_name',
  'port', 'path', 'scheme', 'address', 'headers', 'basic_auth_username', 'basic_auth_password',
];
const EXEC_FIELDS = ['command', 'args', 'env'];
const FILE_FIELDS = ['path'];

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkFields(where: string, what: string, obj: Obj, known: readonly string[]): void {
  const unknown = Object.keys(obj).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw moduleConfigError(`${where}: unknown ${what} configuration fields: ${unknown.join(', ')} (known: ${known.join(', ')})`);
  }
}

class Reader {
  constructor(readonly where: string, readonly obj: Obj) {}
  fail(field: string, expected: string): never {
    throw moduleConfigError(`${this.where}: ${field} must be ${expected}, got ${JSON.stringify(this.obj[field])}`);
  }
  str(field: string): string | undefined {
    const v = this.obj[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.fail(field, 'a string');
    return v as string;
  }
  bool(field: string): boolean | undefined {
    const v = this.obj[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') this.fail(field, 'true or false');
    return v as boolean;
  }
  strings(field: string): string[] {
    const v = this.obj[field];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' || typeof s === 'number')) this.fail(field, 'a list of strings');
    return (v as unknown[]).map(String);
  }
  map(field: string): Record<string, string> {
    const v = this.obj[field];
    if (v === undefined || v === null) return {};
    if (!isObj(v) || !Object.values(v).every((s) => ['string', 'number', 'boolean'].includes(typeof s))) {
      this.fail(field, 'a map of strings');
    }
    return Object.fromEntries(Object.entries(v as Obj).map(([k, s]) => [k, String(s)]));
  }
}

/** Go's yaml.v2 reads a time.Duration from a duration string or an integer of nanoseconds. */
function timeoutMs(where: string, v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v / 1e6;
  if (typeof v === 'string') {
    try {
      const ms = parseDuration(v);
      if (ms >= 0) return ms;
    } catch (err) {
      throw moduleConfigError(`${where}: timeout: ${(err as Error).message}`);
    }
  }
  throw moduleConfigError(`${where}: timeout must be a duration such as 5s, got ${JSON.stringify(v)}`);
}

export function checkModuleName(name: string, source: string): void {
  if (!MODULE_NAME_RE.test(name)) {
    throw moduleConfigError(
      `${source}: module name ${JSON.stringify(name)} is not allowed: expected letters, digits, "_", "." and "-" (at most 64, not starting with "." or "-")`,
    );
  }
}

/** One module's YAML mapping (under `modules:` or a whole `-config.dirs` file). */
export function readExpexpModule(name: string, raw: unknown, source: string): ModuleConfig {
  checkModuleName(name, source);
  const where = `${source}: module ${name}`;
  if (!isObj(raw)) throw moduleConfigError(`${where}: expected a mapping with method: http, exec or file`);
  checkFields(where, 'module', raw, MODULE_FIELDS);
  const base = { name, style: 'expexp' as const, source, timeoutMs: timeoutMs(where, raw['timeout']) };
  const sub = (key: string, known: readonly string[]): Reader => {
    const v = raw[key] ?? {};
    if (!isObj(v)) throw moduleConfigError(`${where}: ${key} must be a mapping`);
    checkFields(where, key, v, known);
    return new Reader(`${where}: ${key}`, v);
  };
  switch (raw['method']) {
    case 'http': {
      const r = sub('http', HTTP_FIELDS);
      const port = r.obj['port'];
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
        throw moduleConfigError(`${where}: module ${name} must have a non-zero port set (1 to 65535), got ${JSON.stringify(port)}`);
      }
      const scheme = r.str('scheme') ?? 'http';
      if (scheme !== 'http' && scheme !== 'https') r.fail('scheme', '"http" or "https"');
      const path = r.str('path') ?? '/metrics';
      if (!path.startsWith('/')) r.fail('path', 'a path starting with "/"');
      const user = r.str('basic_auth_username');
      const password = r.str('basic_auth_password');
      const headers = Object.entries(r.map('headers')).flat();
      const m: HttpModule = {
        ...base,
        method: 'http',
        verify: r.bool('verify') ?? true,
        scheme: scheme as 'http' | 'https',
        address: r.str('address') || 'localhost',
        port,
        path,
        headers,
        basicAuth: user === undefined && password === undefined ? undefined : { username: user ?? '', password: password ?? '' },
        tls: {
          insecureSkipVerify: r.bool('tls_insecure_skip_verify') ?? false,
          caFile: r.str('tls_ca_cert_file'),
          certFile: r.str('tls_cert_file'),
          keyFile: r.str('tls_key_file'),
          serverName: r.str('server_name'),
        },
      };
      if ((m.tls.certFile === undefined) !== (m.tls.keyFile === undefined)) {
        throw moduleConfigError(`${where}: tls_cert_file and tls_key_file must be given together`);
      }
      return Object.freeze(m);
    }
    case 'exec': {
      const r = sub('exec', EXEC_FIELDS);
      const command = r.str('command');
      if (!command) r.fail('command', 'a program to run');
      const m: ExecModule = { ...base, method: 'exec', verify: true, command: command!, args: Object.freeze(r.strings('args')), env: Object.freeze(r.map('env')) };
      return Object.freeze(m);
    }
    case 'file': {
      const r = sub('file', FILE_FIELDS);
      const path = r.str('path');
      if (!path) r.fail('path', 'a file name');
      const m: FileModule = { ...base, method: 'file', verify: true, path: path! };
      return Object.freeze(m);
    }
    default:
      throw moduleConfigError(`${where}: unknown module method: ${JSON.stringify(raw['method'])} (expected http, exec or file)`);
  }
}

/** A whole `expexp.yaml`: `modules:` and an optional `defaultModule:`. */
export function readExpexpConfig(text: string, source: string): { modules: ModuleConfig[]; defaultModule: string | undefined } {
  const doc = parseYamlText(text, source) ?? {};
  if (!isObj(doc)) throw moduleConfigError(`${source}: expected a mapping with modules:`);
  checkFields(source, 'top-level', doc, TOP_FIELDS);
  const mods = doc['modules'] ?? {};
  if (!isObj(mods)) throw moduleConfigError(`${source}: modules must be a mapping of module names`);
  const def = doc['defaultModule'];
  if (def !== undefined && def !== null && typeof def !== 'string') {
    throw moduleConfigError(`${source}: defaultModule must be a module name, got ${JSON.stringify(def)}`);
  }
  return {
    modules: Object.entries(mods).map(([name, raw]) => readExpexpModule(name, raw, source)),
    defaultModule: typeof def === 'string' && def !== '' ? def : undefined,
  };
}

/** One `-config.dirs` file: the module's fields at the top level. */
export function readExpexpModuleFile(name: string, text: string, source: string): ModuleConfig {
  return readExpexpModule(name, parseYamlText(text, source) ?? {}, source);
}
