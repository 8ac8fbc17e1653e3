import type { ModuleConfig, ModuleReloadState, ModuleResult, ModuleSet } from '../modules/types.js';

/**
 * The modules part of the client's status page: each module in force, what
 * it runs with secrets redacted, and how its last run ended. A status page
 * may be exposed wider than the module files: no password, header value,
 * environment value or secret-looking argument or query value leaves here.
 */

/** Shown instead of a secret. */
export const REDACTED = '<redacted>';
/** Longest error reason kept, in UTF-16 code units (as the scrape history's). */
const MAX_REASON_CHARS = 512;
/** Results kept for names no longer in the set, before the oldest are dropped. */
const MAX_KEPT_RESULTS = 1024;
/** Keys (of a query, of a `--flag=value` argument) whose values are secrets. */
const SECRET_KEY = /pass|secret|token|key|auth|cred|sign|session|cookie|bearer/i;

interface Kept extends ModuleResult {
  readonly at: number;
}

/** The last result of each module, by name; bounded (MAX_KEPT_RESULTS), reasons cut to MAX_REASON_CHARS. */
export class ModuleResultLog {
  readonly #now: () => number;
  readonly #last = new Map<string, Kept>();

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  record(r: ModuleResult): void {
    this.#last.delete(r.name);
    this.#last.set(r.name, { ...r, at: this.#now(), ...(r.error !== undefined && { error: r.error.slice(0, MAX_REASON_CHARS) }) });
    // Map order is insertion order: the first key is the least recently run module.
    if (this.#last.size > MAX_KEPT_RESULTS) this.#last.delete(this.#last.keys().next().value!);
  }

  last(name: string): Kept | undefined {
    return this.#last.get(name);
  }
}

/** `key=value` pairs of a query with secret-looking values replaced. */
function redactQuery(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq > 0 && SECRET_KEY.test(pair.slice(0, eq)) ? `${pair.slice(0, eq + 1)}${REDACTED}` : pair;
    })
    .join('&');
}

/** Command arguments with the value of `--secret=x`, `-secret x`-shaped flags, and userinfo in URLs, replaced. */
export function redactArgs(args: readonly string[]): string[] {
  return args.map((a, i) => {
    const eq = a.indexOf('=');
    if (a.startsWith('-') && eq > 0 && SECRET_KEY.test(a.slice(0, eq))) return `${a.slice(0, eq + 1)}${REDACTED}`;
    const prev = args[i - 1];
    if (prev !== undefined && prev.startsWith('-') && !prev.includes('=') && SECRET_KEY.test(prev) && !a.startsWith('-')) return REDACTED;
    return a.replace(/(\/\/)[^/@\s]+@/g, `$1${REDACTED}@`);
  });
}

/** What a module runs, as shown: an http module's URL (secret query values redacted), an exec module's command line, a file's path. */
export function moduleTarget(m: ModuleConfig): string {
  if (m.method === 'file') return m.path;
  if (m.method === 'exec') return [m.command, ...redactArgs(m.args)].join(' ');
  const q = m.path.indexOf('?');
  const path = q < 0 ? m.path : `${m.path.slice(0, q)}?${redactQuery(m.path.slice(q + 1))}`;
  const host = m.address.includes(':') ? `[${m.address}]` : m.address;
  return `${m.scheme}://${host}:${m.port}${path}`;
}

/** Settings shown next to the target: names of headers and environment variables, never their values. */
function details(m: ModuleConfig): string[] {
  const out: string[] = [];
  if (m.method === 'http') {
    if (m.basicAuth) out.push(`basic auth as ${m.basicAuth.username}`);
    for (let i = 0; i < m.headers.length; i += 2) out.push(`header ${m.headers[i]}`);
    if (m.tls.insecureSkipVerify) out.push('TLS not verified');
    if (m.tls.certFile) out.push('client certificate');
  } else if (m.method === 'exec') {
    const env = Object.keys(m.env);
    if (env.length > 0) out.push(`env ${env.join(', ')}`);
  }
  return out;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** The JSON of the status page's Modules section (docs/api.md, "Client status"). */
export function modulesView(set: ModuleSet, results: ModuleResultLog, reload: ModuleReloadState) {
  const names = [...set.modules.keys()].sort();
  return {
    defaultModule: set.defaultModule ?? null,
    lastReload: { ok: reload.ok, at: iso(reload.at), error: reload.error ?? '' },
    list: names.map((name) => {
      const m = set.modules.get(name)!;
      const r = results.last(name);
      return {
        name,
        kind: m.method,
        style: m.style === 'oitc' ? 'openITCOCKPIT' : 'exporter_exporter',
        target: moduleTarget(m),
        details: details(m),
        verify: m.verify,
        timeoutSeconds: m.timeoutMs / 1000,
        source: m.source,
        last: r ? { at: iso(r.at), status: r.status, durationSeconds: r.durationMs / 1000, error: r.error ?? '' } : null,
      };
    }),
  };
}
