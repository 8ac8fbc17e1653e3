import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { ERROR_CODES, PushProxError } from '@pushprox/shared';
import { globToRegExp, hashToken, patternsAllow, readTokenLines } from './token-lines.js';

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

/**
 * --client.token-file: one token per line, optionally followed by FQDN
 * patterns (`*` matches within one label): `t0ken host-a.example *.dc1.example`.
 * The line format is token-lines.ts'.
 */
export type TokenTable = ReadonlyMap<string, TokenEntry>;

export function loadTokenFile(file: string): TokenTable {
  return new Map(
    readTokenLines('client.token-file', file).map((t) => [t.hash, { label: t.label, patterns: t.words.map(globToRegExp) }]),
  );
}

export interface ClientAuthOptions {
  /**
   * Refuse anonymous clients even without a token file: set when the client
   * listener verifies certificates, i.e. mutual TLS was configured. Default false.
   */
  readonly requireIdentity?: boolean;
}

export class ClientAuthenticator {
  #tokens: TokenTable | undefined;
  readonly #requireIdentity: boolean;

  constructor(tokens: TokenTable | undefined, opts: ClientAuthOptions = {}) {
    this.#tokens = tokens;
    this.#requireIdentity = opts.requireIdentity ?? false;
  }

  /** A reloaded --client.token-file; requests already identified keep their identity. */
  setTokens(tokens: TokenTable): void {
    this.#tokens = tokens;
  }

  /** Throws CLIENT_UNAUTHENTICATED (401) when a token is required and missing or unknown. */
  identify(req: IncomingMessage): ClientIdentity {
    const peer = verifiedPeer(req);
    if (peer) return peer;
    if (!this.#tokens) {
      if (!this.#requireIdentity) return ANYONE;
      throw new PushProxError(
        ERROR_CODES.CLIENT_UNAUTHENTICATED,
        'expected a client certificate signed by tls_server_config.client_ca_file, got none',
      );
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(String(req.headers.authorization ?? ''));
    const entry = m ? this.#tokens.get(hashToken(m[1]!)) : undefined;
    if (!entry) {
      throw new PushProxError(
        ERROR_CODES.CLIENT_UNAUTHENTICATED,
        m ? 'unknown bearer token' : 'expected "Authorization: Bearer <token>" from --client.token-file, got none',
      );
    }
    return {
      subject: entry.label,
      allows: (f) => patternsAllow(entry.patterns, f),
    };
  }
}

/**
 * A verified client certificate (the TLS socket's `authorized`) as an
 * identity, as identify() uses it: named by its DNS and IP subjectAltNames, else its
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
