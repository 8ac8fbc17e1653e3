import type { HttpModule } from './types.js';
import { checkModuleName, moduleConfigError } from './load-yaml.js';

/**
 * The openITCOCKPIT agent's `prometheus_exporters.ini`: one section per
 * exporter, the section name is the module name, `enabled = False` sections
 * are skipped. Fields: enabled, method (http or https: the scheme), port,
 * path (default /metrics), interval (Prometheus' own business here: read and
 * ignored), timeout (seconds), and our `address` for a gateway (default localhost).
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

/** The enabled exporters of a prometheus_exporters.ini as http modules (style `oitc`). */
export function readOitcConfig(text: string, source: string): HttpModule[] {
  const out: HttpModule[] = [];
  for (const [name, fields] of parseIni(text, source)) {
    const where = `${source}: [${name}]`;
    const unknown = [...fields.keys()].filter((k) => !FIELDS.includes(k));
    if (unknown.length > 0) throw moduleConfigError(`${where}: unknown fields: ${unknown.join(', ')} (known: ${FIELDS.join(', ')})`);
    if (fields.has('enabled') && !parseBool(where, fields.get('enabled')!)) continue;
    checkModuleName(name, source);
    const method = (fields.get('method') ?? 'http').toLowerCase();
    if (method !== 'http' && method !== 'https') throw moduleConfigError(`${where}: method must be http or https, got ${JSON.stringify(method)}`);
    const portText = fields.get('port') ?? '';
    const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) throw moduleConfigError(`${where}: port must be 1 to 65535, got ${JSON.stringify(portText)}`);
    const path = fields.get('path') || '/metrics';
    if (!path.startsWith('/')) throw moduleConfigError(`${where}: path must start with "/", got ${JSON.stringify(path)}`);
    const timeoutText = fields.get('timeout');
    const timeoutS = timeoutText === undefined ? 0 : Number(timeoutText);
    if (!Number.isFinite(timeoutS) || timeoutS < 0 || timeoutText === '') {
      throw moduleConfigError(`${where}: timeout must be a number of seconds, got ${JSON.stringify(timeoutText)}`);
    }
    out.push(
      Object.freeze({
        name,
        style: 'oitc' as const,
        source,
        timeoutMs: timeoutS * 1000,
        verify: true,
        method: 'http' as const,
        scheme: method,
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
