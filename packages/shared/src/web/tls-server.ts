import https from 'node:https';
import type { RequestListener, ServerOptions } from 'node:http';
import type { TLSSocket } from 'node:tls';
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
      cert: tls.cert,
      key: tls.key,
      ...(tls.ca && { ca: tls.ca }),
      requestCert: request,
      rejectUnauthorized: tls.clientAuth === 'RequireAndVerifyClientCert',
      minVersion: tls.minVersion,
      ...(tls.maxVersion && { maxVersion: tls.maxVersion }),
      ...(tls.ciphers && { ciphers: tls.ciphers }),
      honorCipherOrder: tls.honorCipherOrder,
      ...(tls.ecdhCurve && { ecdhCurve: tls.ecdhCurve }),
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
