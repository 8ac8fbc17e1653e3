import { X509Certificate, createPrivateKey } from 'node:crypto';
import { isIP } from 'node:net';
import { ERROR_CODES, PushProxError, messageOf } from '@pushprox/shared';

/**
 * Checks a certificate the proxy issued before it is stored: it parses, is
 * signed by `ca`, certifies our own key, names `fqdn`, and is valid now.
 * Anything else is refused (ENROLL_BAD_REQUEST), since storing it would
 * leave the client with a pair no proxy accepts.
 */
export function checkIssued(certPem: string, ca: X509Certificate, keyPem: string, fqdn: string, now = Date.now()): X509Certificate {
  const bad = (what: string) => new PushProxError(ERROR_CODES.ENROLL_BAD_REQUEST, `the proxy's answer is unusable: ${what}`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw bad(`expected a PEM certificate, got ${JSON.stringify(certPem.slice(0, 80))} (${messageOf(err)})`);
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw bad(`expected a certificate issued by the pinned CA ${ca.subject}, got one from ${cert.issuer.replace(/\n/g, ', ')}`);
  }
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) throw bad('the certificate is for another key than the one we generated');
  const names = isIP(fqdn) ? cert.checkIP(fqdn) !== undefined : cert.checkHost(fqdn) !== undefined;
  if (!names) throw bad(`expected a certificate naming ${fqdn}, got ${cert.subjectAltName ?? cert.subject}`);
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (!(from <= now && now < to)) throw bad(`expected a certificate valid now, got ${cert.validFrom} to ${cert.validTo}`);
  return cert;
}
