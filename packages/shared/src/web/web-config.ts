import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';

/**
 * `--web.config.file` in the Prometheus exporter-toolkit format that
 * operators already use for node_exporter. Supported keys:
 *
 *   tls_server_config:
 *     cert_file, key_file            (required together)
 *     client_auth_type               NoClientCert (default), RequestClientCert,
 *                                    RequireAnyClientCert, VerifyClientCertIfGiven,
 *                                    RequireAndVerifyClientCert
 *     client_ca_file                 required by the two Verify… types
 *     min_version, max_version       TLS10, TLS11, TLS12 (default min), TLS13
 *     cipher_suites                  Go names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (TLS 1.2 only, as in Go)
 *     prefer_server_cipher_suites    bool
 *     curve_preferences              X25519, CurveP256, CurveP384, CurveP521
 *   basic_auth_users:                user: bcrypt hash
 *
 * Paths are relative to the config file, as in exporter-toolkit. An unknown
 * key or unreadable file is an error naming it.
 */

export type ClientAuthType =
  | 'NoClientCert'
  | 'RequestClientCert'
  | 'RequireAnyClientCert'
  | 'VerifyClientCertIfGiven'
  | 'RequireAndVerifyClientCert';

export interface TlsSettings {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
  readonly clientAuth: ClientAuthType;
  readonly minVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  readonly maxVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3' | undefined;
  readonly ciphers: string | undefined;
  readonly honorCipherOrder: boolean;
  readonly ecdhCurve: string | undefined;
}

export interface WebConfig {
  readonly tls: TlsSettings | undefined;
  /** user → bcrypt hash; empty means no basic auth. */
  readonly users: ReadonlyMap<string, string>;
}

const VERSIONS = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const;
const CLIENT_AUTH: readonly ClientAuthType[] = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
];
const CURVES: Readonly<Record<string, string>> = { X25519: 'X25519', CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521' };
/** Go's TLS 1.2 cipher suite names → OpenSSL's (TLS 1.3 suites are not configurable in Go either). */
const CIPHERS: Readonly<Record<string, string>> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
};
const TLS_KEYS = [
  'cert_file',
  'key_file',
  'client_auth_type',
  'client_ca_file',
  'min_version',
  'max_version',
  'cipher_suites',
  'prefer_server_cipher_suites',
  'curve_preferences',
];

export class WebConfigError extends Error {
  override readonly name = 'WebConfigError';
}

type Obj = Record<string, unknown>;

/**
 * yaml is loaded on first use: it is 84 modules and 3 MB of private memory,
 * and most proxies run without a web config file.
 */
function parseYaml(text: string): unknown {
  const { parse } = createRequire(import.meta.url)('yaml') as typeof Yaml;
  return parse(text);
}

/**
 * `flag` names the file in messages. The client listener's file
 * (--web.client-config.file) may not hold basic_auth_users: clients
 * authenticate with certificates or --client.token-file.
 */
export function loadWebConfig(file: string, flag: 'web.config.file' | 'web.client-config.file' = 'web.config.file'): WebConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new WebConfigError(`cannot read --${flag} ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (err) {
    throw new WebConfigError(`--${flag} ${file} is not valid YAML: ${(err as Error).message}`);
  }
  const fail = (msg: string): never => {
    throw new WebConfigError(`--${flag} ${file}: ${msg}`);
  };
  const obj = (v: unknown, where: string): Obj =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : fail(`expected ${where} to be a mapping, got ${JSON.stringify(v)}`);
  const root = obj(doc, 'the document');
  for (const k of Object.keys(root)) {
    if (k !== 'tls_server_config' && k !== 'basic_auth_users') fail(`unknown key "${k}" (supported: tls_server_config, basic_auth_users)`);
  }
  const dir = path.dirname(path.resolve(file));
  const readRef = (key: string, value: unknown): Buffer => {
    if (typeof value !== 'string' || value === '') fail(`expected tls_server_config.${key} to be a file path, got ${JSON.stringify(value)}`);
    const p = path.resolve(dir, value as string);
    try {
      return readFileSync(p);
    } catch (err) {
      return fail(`cannot read tls_server_config.${key} ${p}: ${(err as Error).message}`);
    }
  };

  const users = new Map<string, string>();
  if (flag === 'web.client-config.file' && root['basic_auth_users'] != null) {
    fail('basic_auth_users does not apply to the client listener (clients authenticate with certificates or --client.token-file)');
  }
  if (root['basic_auth_users'] !== undefined && root['basic_auth_users'] !== null) {
    for (const [user, hash] of Object.entries(obj(root['basic_auth_users'], 'basic_auth_users'))) {
      if (typeof hash !== 'string' || !/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
        fail(`expected basic_auth_users.${user} to be a bcrypt hash ($2y$10$…), got ${JSON.stringify(String(hash).slice(0, 12))}…`);
      }
      users.set(user, hash as string);
    }
  }

  let tls: TlsSettings | undefined;
  if (root['tls_server_config'] !== undefined && root['tls_server_config'] !== null) {
    const t = obj(root['tls_server_config'], 'tls_server_config');
    for (const k of Object.keys(t)) if (!TLS_KEYS.includes(k)) fail(`unknown key "tls_server_config.${k}" (supported: ${TLS_KEYS.join(', ')})`);
    if (t['cert_file'] === undefined || t['key_file'] === undefined) fail('tls_server_config needs both cert_file and key_file');
    const clientAuth = (t['client_auth_type'] ?? 'NoClientCert') as ClientAuthType;
    if (!CLIENT_AUTH.includes(clientAuth)) fail(`expected tls_server_config.client_auth_type to be one of ${CLIENT_AUTH.join(', ')}, got ${JSON.stringify(clientAuth)}`);
    const verifies = clientAuth === 'VerifyClientCertIfGiven' || clientAuth === 'RequireAndVerifyClientCert';
    if (verifies && t['client_ca_file'] === undefined) fail(`tls_server_config.client_auth_type ${clientAuth} needs client_ca_file`);
    const version = (key: string, dflt: keyof typeof VERSIONS | undefined) => {
      const v = t[key] ?? dflt;
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || !(v in VERSIONS)) fail(`expected tls_server_config.${key} to be one of TLS10, TLS11, TLS12, TLS13, got ${JSON.stringify(v)}`);
      return VERSIONS[v as keyof typeof VERSIONS];
    };
    const list = (key: string, table: Readonly<Record<string, string>>): string[] | undefined => {
      const v = t[key];
      if (v === undefined) return undefined;
      if (!Array.isArray(v)) return fail(`expected tls_server_config.${key} to be a list, got ${JSON.stringify(v)}`);
      return v.map((x) => table[String(x)] ?? fail(`unsupported tls_server_config.${key} entry ${JSON.stringify(x)} (supported: ${Object.keys(table).join(', ')})`));
    };
    const ciphers = list('cipher_suites', CIPHERS);
    const curves = list('curve_preferences', CURVES);
    const minVersion = version('min_version', 'TLS12')!;
    const maxVersion = version('max_version', undefined);
    tls = Object.freeze({
      cert: readRef('cert_file', t['cert_file']),
      key: readRef('key_file', t['key_file']),
      ca: t['client_ca_file'] === undefined ? undefined : readRef('client_ca_file', t['client_ca_file']),
      clientAuth,
      minVersion,
      maxVersion,
      ciphers: ciphers?.join(':'),
      honorCipherOrder: t['prefer_server_cipher_suites'] === true,
      ecdhCurve: curves?.join(':'),
    });
  }
  return Object.freeze({ tls, users });
}
