import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { ERROR_CODES, PushProxError } from '@pushprox/shared';

/**
 * Who a client (the /poll and /push role) is, and which FQDNs it may poll for.
 *
 * - A verified client certificate (mutual TLS with client_ca_file) names its
 *   FQDNs: the DNS and IP subjectAltNames, else the CN. Such a client may only
 *   poll for those, so two clients cannot steal each other's scrapes.
 * - Otherwise, with --client.token-file, a bearer token is required; each
 *   token may be limited to FQDN patterns.
 * - Otherwise anyone may poll for anything, as upstream.
 */
export interface ClientIdentity {
  /** For logs: the certificate subject or the token's label. */
  readonly subject: string;
  allows(fqdn: string): boolean;
}

export interface TokenEntry {
  readonly label: string;
  readonly patterns: readonly RegExp[];
}

const ANYONE: ClientIdentity = { subject: 'anonymous', allows: () => true };

/** A case-insensitive FQDN pattern: `*` matches within one label. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .toLowerCase()
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^.]*');
  return new RegExp(`^${body}$`);
}

const sha = (s: string) => createHash('sha256').update(s).digest('base64');

/**
 * --client.token-file: one token per line, optionally followed by FQDN
 * patterns (`*` matches within one label): `t0ken host-a.example *.dc1.example`.
 * Blank lines and `#` comments are ignored. Tokens are looked up by their
 * SHA-256, so no comparison of secrets depends on where they differ.
 */
export type TokenTable = ReadonlyMap<string, TokenEntry>;

export function loadTokenFile(file: string): TokenTable {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read --client.token-file ${file}: ${(err as Error).message}`);
  }
  const tokens = new Map<string, TokenEntry>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const [token, ...patterns] = line.split(/\s+/);
    if (token!.length < 16) throw new Error(`--client.token-file ${file} line ${i + 1}: expected a token of at least 16 characters, got ${token!.length}`);
    tokens.set(sha(token!), { label: `token on line ${i + 1}`, patterns: patterns.map(globToRegExp) });
  });
  if (tokens.size === 0) throw new Error(`--client.token-file ${file} holds no token`);
  return tokens;
}

export interface ClientAuthOptions {
  /**
   * Refuse anonymous clients even without a token file: set when the client
   * listener verifies certificates, i.e. mutual TLS was configured. Default false.
   */
  readonly requireIdentity?: boolean;
}

export class ClientAuthenticator {
  readonly #tokens: TokenTable | undefined;
  readonly #requireIdentity: boolean;

  constructor(tokens: TokenTable | undefined, opts: ClientAuthOptions = {}) {
    this.#tokens = tokens;
    this.#requireIdentity = opts.requireIdentity ?? false;
  }

  /** Throws CLIENT_UNAUTHENTICATED (401) when a token is required and missing or unknown. */
  identify(req: IncomingMessage): ClientIdentity {
    const socket = req.socket as Partial<TLSSocket>;
    if (socket.encrypted && socket.authorized && typeof socket.getPeerCertificate === 'function') {
      const cert = socket.getPeerCertificate();
      if (cert && Object.keys(cert).length > 0) {
        const names = (cert.subjectaltname ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.startsWith('DNS:') || s.startsWith('IP Address:'))
          .map((s) => s.slice(s.indexOf(':') + 1).toLowerCase());
        const cn = typeof cert.subject?.CN === 'string' ? cert.subject.CN.toLowerCase() : undefined;
        const allowed = new Set(names.length > 0 ? names : cn ? [cn] : []);
        return { subject: `certificate CN=${cn ?? '?'} SAN=[${names.join(', ')}]`, allows: (f) => allowed.has(f.toLowerCase()) };
      }
    }
    if (!this.#tokens) {
      if (!this.#requireIdentity) return ANYONE;
      throw new PushProxError(
        ERROR_CODES.CLIENT_UNAUTHENTICATED,
        'expected a client certificate signed by tls_server_config.client_ca_file, got none',
      );
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(String(req.headers.authorization ?? ''));
    const entry = m ? this.#tokens.get(sha(m[1]!)) : undefined;
    if (!entry) {
      throw new PushProxError(
        ERROR_CODES.CLIENT_UNAUTHENTICATED,
        m ? 'unknown bearer token' : 'expected "Authorization: Bearer <token>" from --client.token-file, got none',
      );
    }
    return {
      subject: entry.label,
      allows: (f) => entry.patterns.length === 0 || entry.patterns.some((p) => p.test(f.toLowerCase())),
    };
  }
}

/**
 * A verified client certificate (the TLS socket's `authorized`) as an
 * identity, named as in identify(): its DNS and IP subjectAltNames, else its
 * CN. undefined without one. `raw` is the DER, to check its issuer.
 */
export function verifiedPeer(req: IncomingMessage): (ClientIdentity & { readonly raw: Buffer }) | undefined {
  const socket = req.socket as Partial<TLSSocket>;
  if (!socket.encrypted || !socket.authorized || typeof socket.getPeerCertificate !== 'function') return undefined;
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  const names = (cert.subjectaltname ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:') || s.startsWith('IP Address:'))
    .map((s) => s.slice(s.indexOf(':') + 1).toLowerCase());
  const cn = typeof cert.subject?.CN === 'string' ? cert.subject.CN.toLowerCase() : undefined;
  const allowed = new Set(names.length > 0 ? names : cn ? [cn] : []);
  return {
    subject: `certificate CN=${cn ?? '?'} SAN=[${names.join(', ')}]`,
    allows: (f) => allowed.has(f.toLowerCase()),
    raw: cert.raw,
  };
}

export function forbidden(identity: ClientIdentity, fqdn: string): PushProxError {
  return new PushProxError(ERROR_CODES.CLIENT_FORBIDDEN, `${identity.subject} may not act for ${JSON.stringify(fqdn)}`);
}
