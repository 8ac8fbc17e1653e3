/**
 * What a client says about one FQDN it serves, beside its poll or channel:
 * its discovery labels, its named modules and its version. Our extension;
 * an upstream proxy ignores the header, and a client that sends none gets
 * exactly upstream's `/clients` entry.
 *
 * Wire form: header HEADER_CLIENT_META on `/poll` (and on the channel
 * upgrade, and on a push-and-poll), value = base64url (RFC 4648 §5, no
 * padding) of UTF-8 JSON `{"v":1,"labels":{…},"modules":[…],"version":"…"}`.
 * base64url keeps any label value within RFC 9110's field-value characters.
 *
 * Invariants enforced by decodeClientMeta (the proxy trusts nothing else):
 * - label names match Prometheus' `[a-zA-Z_][a-zA-Z0-9_]*` and do not start
 *   with `__` (reserved for Prometheus' own meta labels);
 * - module names match MODULE_NAME_RE (no path characters, no query syntax);
 * - every count and length is bounded (CLIENT_META_LIMITS).
 */

import { ERROR_CODES, PushProxError } from './errors.js';

export const HEADER_CLIENT_META = 'X-Pushprox-Client-Meta';
export const CLIENT_META_VERSION = 1;

/** How Prometheus addresses a module on the client's virtual host. */
export type ModuleStyle = 'expexp' | 'oitc';

export interface ClientModuleMeta {
  /** Module name, MODULE_NAME_RE. */
  readonly name: string;
  /** `expexp`: `/proxy?module=NAME` (exporter_exporter); `oitc`: `/prometheus?exporter=NAME` (openITCOCKPIT agent). */
  readonly style: ModuleStyle;
}

export interface ClientMeta {
  readonly labels: Readonly<Record<string, string>>;
  readonly modules: readonly ClientModuleMeta[];
  /** The client's version string, for display only. */
  readonly version?: string;
}

export const CLIENT_META_LIMITS = Object.freeze({
  /** Longest header value accepted, in bytes. */
  headerBytes: 16 * 1024,
  labels: 64,
  labelNameLength: 128,
  labelValueLength: 1024,
  modules: 256,
  versionLength: 64,
});

export const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
export const MODULE_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

export const EMPTY_CLIENT_META: ClientMeta = Object.freeze({ labels: Object.freeze({}), modules: Object.freeze([]) });

/** Its message names the fault; as a PushProxError it answers 400 (CLIENT_META_INVALID). */
export class ClientMetaError extends PushProxError {
  constructor(message: string) {
    super(ERROR_CODES.CLIENT_META_INVALID, message);
    this.name = 'ClientMetaError';
  }
}

/** Throws ClientMetaError when `meta` breaks an invariant (so a client fails at start, not at the proxy). */
export function encodeClientMeta(meta: ClientMeta): string {
  validate(meta);
  const body: Record<string, unknown> = { v: CLIENT_META_VERSION, labels: meta.labels, modules: meta.modules };
  if (meta.version !== undefined) body['version'] = meta.version;
  const value = Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
  if (value.length > CLIENT_META_LIMITS.headerBytes) {
    throw new ClientMetaError(`client metadata is ${value.length} bytes encoded; at most ${CLIENT_META_LIMITS.headerBytes} are allowed`);
  }
  return value;
}

/** Decodes and validates a header value; throws ClientMetaError naming what was wrong. */
export function decodeClientMeta(value: string): ClientMeta {
  if (value.length > CLIENT_META_LIMITS.headerBytes) {
    throw new ClientMetaError(`${HEADER_CLIENT_META} is ${value.length} bytes; at most ${CLIENT_META_LIMITS.headerBytes} are allowed`);
  }
  if (!/^[A-Za-z0-9_-]*$/.test(value)) throw new ClientMetaError(`${HEADER_CLIENT_META} must be base64url without padding`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    throw new ClientMetaError(`${HEADER_CLIENT_META} does not decode to JSON`);
  }
  if (!isRecord(parsed)) throw new ClientMetaError(`${HEADER_CLIENT_META} must be a JSON object`);
  if (parsed['v'] !== CLIENT_META_VERSION) {
    throw new ClientMetaError(`${HEADER_CLIENT_META} version ${JSON.stringify(parsed['v'])} is not supported; expected ${CLIENT_META_VERSION}`);
  }
  const labels = parsed['labels'] ?? {};
  const modules = parsed['modules'] ?? [];
  const version = parsed['version'];
  if (!isRecord(labels)) throw new ClientMetaError('labels must be an object of strings');
  if (!Array.isArray(modules)) throw new ClientMetaError('modules must be an array');
  const meta: ClientMeta = {
    labels: Object.freeze({ ...(labels as Record<string, string>) }),
    modules: Object.freeze(
      modules.map((m: unknown) => {
        if (!isRecord(m)) throw new ClientMetaError('each module must be an object');
        return Object.freeze({ name: m['name'] as string, style: m['style'] as ModuleStyle });
      }),
    ),
    ...(version === undefined ? {} : { version: version as string }),
  };
  validate(meta);
  return Object.freeze(meta);
}

function validate(meta: ClientMeta): void {
  const names = Object.keys(meta.labels);
  if (names.length > CLIENT_META_LIMITS.labels) {
    throw new ClientMetaError(`${names.length} labels; at most ${CLIENT_META_LIMITS.labels} are allowed`);
  }
  for (const name of names) {
    const value = meta.labels[name];
    if (!LABEL_NAME_RE.test(name) || name.length > CLIENT_META_LIMITS.labelNameLength) {
      throw new ClientMetaError(`label name ${JSON.stringify(name)} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)`);
    }
    if (name.startsWith('__')) throw new ClientMetaError(`label name ${JSON.stringify(name)} starts with "__", which Prometheus reserves`);
    if (typeof value !== 'string' || value.length > CLIENT_META_LIMITS.labelValueLength) {
      throw new ClientMetaError(`label ${name} must be a string of at most ${CLIENT_META_LIMITS.labelValueLength} characters`);
    }
  }
  if (meta.modules.length > CLIENT_META_LIMITS.modules) {
    throw new ClientMetaError(`${meta.modules.length} modules; at most ${CLIENT_META_LIMITS.modules} are allowed`);
  }
  const seen = new Set<string>();
  for (const m of meta.modules) {
    if (typeof m.name !== 'string' || !MODULE_NAME_RE.test(m.name)) {
      throw new ClientMetaError(`module name ${JSON.stringify(m.name)} must match ${MODULE_NAME_RE.source}`);
    }
    if (m.style !== 'expexp' && m.style !== 'oitc') {
      throw new ClientMetaError(`module ${m.name}: style ${JSON.stringify(m.style)} is not "expexp" or "oitc"`);
    }
    const key = `${m.style}/${m.name}`;
    if (seen.has(key)) throw new ClientMetaError(`module ${m.name} (${m.style}) is listed twice`);
    seen.add(key);
  }
  if (meta.version !== undefined && (typeof meta.version !== 'string' || meta.version.length > CLIENT_META_LIMITS.versionLength)) {
    throw new ClientMetaError(`version must be a string of at most ${CLIENT_META_LIMITS.versionLength} characters`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
