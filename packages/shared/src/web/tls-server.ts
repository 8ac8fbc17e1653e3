import https from 'node:https';
import type { RequestListener, ServerOptions } from 'node:http';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import type { TlsSettings } from './web-config.js';

/**
 * An https server with exporter-toolkit's client_auth_type semantics (Go's
 * tls.ClientAuthType): Node verifies a presented certificate only with
 * rejectUnauthorized, so the "Any" and "IfGiven" types are finished here,
 * per connection, once the handshake is done.
 * `serverOptions`: node:http server options (timers, TCP keep-alive), as the plain listener's.
 */
export function createTlsServer(tls: TlsSettings, handler: RequestListener, serverOptions: ServerOptions = {}): https.Server {
  const request = tls.clientAuth !== 'NoClientCert';
  const server = https.createServer(
    {
      ...secureContextOptions(tls),
      requestCert: request,
      rejectUnauthorized: tls.clientAuth === 'RequireAndVerifyClientCert',
      ...serverOptions,
    },
    handler,
  );
  if (tls.clientAuth === 'RequireAnyClientCert' || tls.clientAuth === 'VerifyClientCertIfGiven') {
    server.on('secureConnection', (socket: TLSSocket) => {
      const cert = socket.getPeerCertificate();
      const given = cert !== null && Object.keys(cert).length > 0;
      if (tls.clientAuth === 'RequireAnyClientCert' ? !given : given && !socket.authorized) socket.destroy();
    });
  }
  return server;
}

/** What a re-read tls_server_config changes on a running server (certificate, key, CA, versions, ciphers, curves). */
export function secureContextOptions(tls: TlsSettings): SecureContextOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.ca && { ca: tls.ca }),
    minVersion: tls.minVersion,
    ...(tls.maxVersion && { maxVersion: tls.maxVersion }),
    ...(tls.ciphers && { ciphers: tls.ciphers }),
    honorCipherOrder: tls.honorCipherOrder,
    ...(tls.ecdhCurve && { ecdhCurve: tls.ecdhCurve }),
  };
}

/**
 * Throws unless `next` can replace `current` on a running listener: TLS on
 * or off and client_auth_type are fixed when the listener starts (a change
 * needs a restart); everything else is swapped by setSecureContext.
 */
export function checkTlsReload(what: string, current: TlsSettings | undefined, next: TlsSettings | undefined): void {
  if ((current === undefined) !== (next === undefined)) {
    throw new Error(`${what}: turning TLS ${next ? 'on' : 'off'} needs a restart; expected tls_server_config to stay ${current ? 'set' : 'absent'}`);
  }
  if (current && next && current.clientAuth !== next.clientAuth) {
    throw new Error(`${what}: changing client_auth_type from ${current.clientAuth} to ${next.clientAuth} needs a restart`);
  }
}
