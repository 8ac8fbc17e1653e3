import type { HttpModule } from './types.js';
import { checkModuleName, moduleConfigError } from './load-yaml.js';

/**
 * The openITCOCKPIT agent's `prometheus_exporters.ini`, read as the agent
 * (viper) reads it: one section per exporter, named by the section in lower
 * case (viper lower-cases keys); only `enabled = True` sections count (a
 * section without `enabled` is off, as there); `[default]` is not an
 * exporter; `method` https means https, anything else http; `path` is
 * required; `timeout` in seconds, 15 when absent or not positive;
 * `interval` is Prometheus' business here (read and ignored); our `address`
 * (default localhost) serves a gateway. Keys the agent does not know are
 * ignored as there, and reported through `onUnknown`.
 */

const FIELDS = ['enabled', 'method', 'port', 'path', 'interval', 'timeout', 'address'];
/** Longest .ini accepted; the agent's files are a few hundred bytes. */
export const MAX_INI_BYTES = 1024 * 1024;

/** Python configparser's booleans, which the agent's files use (`True`/`False`). */
function parseBool(where: string, v: string): boolean {
  const s = v.toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(s)) return true;
  if (['0', 'no', 'false', 'off'].includes(s)) return false;
  throw moduleConfigError(`${where}: enabled must be True or False, got ${JSON.stringify(v)}`);
}

/** Sections in file order, keys lower-cased; `key = value` or `key: value`, `#`/`;` comment lines. */
export function parseIni(text: string, source: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  let currentName = '';
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    const at = `${source}:${i + 1}`;
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const sec = /^\[([^\]]*)\]$/.exec(line);
    if (sec) {
      currentName = sec[1]!.trim();
      if (sections.has(currentName)) throw moduleConfigError(`${at}: section [${currentName}] is defined twice (duplicate module)`);
      current = new Map();
      sections.set(currentName, current);
      return;
    }
    const kv = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(line);
    if (!kv) throw moduleConfigError(`${at}: expected [section] or key = value, got ${JSON.stringify(line)}`);
    if (!current) throw moduleConfigError(`${at}: ${JSON.stringify(line)} comes before any [section]`);
    const key = kv[1]!.toLowerCase();
    if (current.has(key)) throw moduleConfigError(`${at}: ${key} is set twice in [${currentName}]`);
    current.set(key, kv[2]!);
  });
  return sections;
}

/** The agent's timeout when a section has none (seconds). */
export const OITC_DEFAULT_TIMEOUT_S = 15;

/** The enabled exporters of a prometheus_exporters.ini as http modules (style `oitc`). */
export function readOitcConfig(text: string, source: string, onUnknown?: (where: string, keys: string[]) => void): HttpModule[] {
  const out: HttpModule[] = [];
  const seen = new Set<string>();
  for (const [section, fields] of parseIni(text, source)) {
    const name = section.toLowerCase();
    const where = `${source}: [${section}]`;
    if (name === 'default') continue;
    if (seen.has(name)) throw moduleConfigError(`${where}: section [${name}] is defined twice (duplicate module; names are case-insensitive)`);
    seen.add(name);
    const unknown = [...fields.keys()].filter((k) => !FIELDS.includes(k));
    if (unknown.length > 0) onUnknown?.(where, unknown);
    if (!fields.has('enabled') || !parseBool(where, fields.get('enabled')!)) continue;
    checkModuleName(name, source);
    const scheme = (fields.get('method') ?? '').trim().toLowerCase() === 'https' ? 'https' : 'http';
    const portText = fields.get('port') ?? '';
    const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) throw moduleConfigError(`${where}: port must be 1 to 65535, got ${JSON.stringify(portText)}`);
    const path = (fields.get('path') ?? '').trim();
    if (path === '') throw moduleConfigError(`${where}: missing path for prometheus exporter: ${name}`);
    if (!path.startsWith('/')) throw moduleConfigError(`${where}: path must start with "/", got ${JSON.stringify(path)}`);
    const timeoutText = fields.get('timeout');
    const timeoutS = timeoutText === undefined || timeoutText.trim() === '' ? 0 : Number(timeoutText);
    if (!Number.isFinite(timeoutS)) throw moduleConfigError(`${where}: timeout must be a number of seconds, got ${JSON.stringify(timeoutText)}`);
    out.push(
      Object.freeze({
        name,
        style: 'oitc' as const,
        source,
        timeoutMs: (timeoutS > 0 ? timeoutS : OITC_DEFAULT_TIMEOUT_S) * 1000,
        verify: true,
        method: 'http' as const,
        scheme,
        address: fields.get('address') || 'localhost',
        port,
        path,
        headers: [],
        basicAuth: undefined,
        tls: { insecureSkipVerify: false, caFile: undefined, certFile: undefined, keyFile: undefined, serverName: undefined },
      }),
    );
  }
  return out;
}
