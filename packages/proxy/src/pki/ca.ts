import { createHash, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { ipBytes, parseHost, sameSan, type SanEntry } from './names.js';

const { pki } = forge;

/** PEM material of one certificate and its private key (PKCS#8). */
export interface CertAndKey {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface CreateCaOptions {
  /** Validity in days, counted from now. */
  readonly days: number;
  /** Defaults to `pushprox CA <8 random hex digits>`, so two CAs are never confused by name. */
  readonly commonName?: string;
}

/** Smallest RSA modulus accepted in a CSR (NIST SP 800-57: 2048 bits until 2030). */
const MIN_RSA_BITS = 2048;
// Tolerates clocks of peers running slightly behind ours.
const BACKDATE_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Keys come from node:crypto (native, fast); node-forge only signs. forge reads
 * RSA keys only, so every key here is RSA 2048.
 */
function newRsaKey(): { keyPem: string; publicKey: forge.pki.rsa.PublicKey } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { keyPem: privateKey, publicKey: pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey };
}

/**
 * RFC 5280 §4.1.2.2: a positive INTEGER of at most 20 octets, unique per CA;
 * 128 random bits make collisions negligible. The first octet is kept in
 * 0x01..0x7f so the DER encoding is positive and minimal at exactly 16 octets.
 */
function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f || 0x01;
  return b.toString('hex');
}

/** Whole days, or `{ ms }` for enrollment's `--enroll.cert-validity` (at least 1 s). */
export type Validity = number | { readonly ms: number };

function validity(cert: forge.pki.Certificate, v: Validity, notAfterCap?: Date): void {
  if (typeof v === 'number' && (!Number.isInteger(v) || v < 1)) throw new Error(`expected a validity of at least 1 whole day, got ${v}`);
  if (typeof v !== 'number' && !(v.ms >= 1000)) throw new Error(`expected a validity of at least 1 s, got ${v.ms} ms`);
  const lifetimeMs = typeof v === 'number' ? v * DAY_MS : v.ms;
  const now = Date.now();
  // At most a tenth of the lifetime: a short certificate backdated by minutes
  // would look mostly spent to a client renewing at a fraction of its lifetime.
  cert.validity.notBefore = new Date(now - Math.min(BACKDATE_MS, lifetimeMs / 10));
  const notAfter = new Date(now + lifetimeMs);
  // A leaf outliving its issuer would fail path validation (RFC 5280 §6.1.3) before it expires.
  cert.validity.notAfter = notAfterCap && notAfterCap < notAfter ? notAfterCap : notAfter;
}

function altNames(sans: readonly SanEntry[]): object[] {
  // GeneralName tags: 2 = dNSName, 7 = iPAddress (RFC 5280 §4.2.1.6).
  return sans.map((s) => (s.type === 'dns' ? { type: 2, value: s.value } : { type: 7, ip: s.value }));
}

/** A self-signed root: RFC 5280 §4.2.1.9 basicConstraints cA and §4.2.1.3 keyCertSign, both critical. */
export function createCa(opts: CreateCaOptions): CertAndKey {
  const { keyPem, publicKey } = newRsaKey();
  const cert = pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = randomSerial();
  validity(cert, opts.days);
  const subject = [{ name: 'commonName', value: opts.commonName ?? `pushprox CA ${randomBytes(4).toString('hex')}` }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { certPem: pki.certificateToPem(cert), keyPem };
}

interface LeafSpec {
  readonly cn: string;
  readonly sans: readonly SanEntry[];
  readonly usage: 'serverAuth' | 'clientAuth';
  readonly days: Validity;
  readonly publicKey: forge.pki.rsa.PublicKey;
}

function signLeaf(ca: CertAndKey, spec: LeafSpec): string {
  const caCert = pki.certificateFromPem(ca.certPem);
  const caKey = pki.privateKeyFromPem(ca.keyPem);
  if (!publicKeysMatch(caCert, caKey)) throw new Error('the CA key does not belong to the CA certificate');
  const cert = pki.createCertificate();
  cert.publicKey = spec.publicKey;
  cert.serialNumber = randomSerial();
  validity(cert, spec.days, caCert.validity.notAfter);
  cert.setSubject([{ name: 'commonName', value: spec.cn }]);
  cert.setIssuer(caCert.subject.attributes);
  // RFC 5280 §4.2.1.1: the leaf's authorityKeyIdentifier equals the issuer's subjectKeyIdentifier.
  const ski = caCert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | undefined;
  const keyIdentifier = ski?.subjectKeyIdentifier
    ? forge.util.hexToBytes(ski.subjectKeyIdentifier)
    : caCert.generateSubjectKeyIdentifier().getBytes();
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    spec.usage === 'serverAuth'
      ? { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true }
      : { name: 'keyUsage', digitalSignature: true, critical: true },
    { name: 'extKeyUsage', [spec.usage]: true },
    // RFC 5280 §4.2.1.6: not critical, because the subject DN is non-empty.
    { name: 'subjectAltName', altNames: altNames(spec.sans) },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return pki.certificateToPem(cert);
}

function publicKeysMatch(cert: forge.pki.Certificate, key: forge.pki.PrivateKey): boolean {
  const pub = cert.publicKey as forge.pki.rsa.PublicKey;
  const priv = key as forge.pki.rsa.PrivateKey;
  return pub.n.equals(priv.n) && pub.e.equals(priv.e);
}

/** A TLS server certificate; its CN is the first SAN (clients match on the SANs only, RFC 6125 §6.4.4). */
export function issueServerCert(ca: CertAndKey, sans: readonly SanEntry[], days: number): CertAndKey {
  if (sans.length === 0) throw new Error('expected at least one subjectAltName for the server certificate');
  const { keyPem, publicKey } = newRsaKey();
  return { certPem: signLeaf(ca, { cn: sans[0]!.value, sans, usage: 'serverAuth', days, publicKey }), keyPem };
}

/** A TLS client certificate naming exactly one host, `fqdn`, in its CN and SAN. */
export function issueClientCert(ca: CertAndKey, fqdn: string, days: number): CertAndKey {
  const host = parseHost(fqdn);
  const { keyPem, publicKey } = newRsaKey();
  return { certPem: signLeaf(ca, { cn: fqdn, sans: [host], usage: 'clientAuth', days, publicKey }), keyPem };
}

/**
 * Signs a client's PKCS#10 request (RFC 2986) for `fqdn`. Only the public key
 * is taken from the CSR; the issued subject and SAN are built here. Refuses a
 * request whose self-signature fails (proof of possession of the key), whose
 * key is not RSA ≥ 2048 bits, or whose CN or SANs name anything but `fqdn`.
 */
export function signCsr(ca: CertAndKey, csrPem: string, fqdn: string, days: Validity): string {
  const host = parseHost(fqdn);
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = pki.certificationRequestFromPem(csrPem);
  } catch (err) {
    throw new Error(`expected a PEM PKCS#10 request with an RSA key: ${err instanceof Error ? err.message : String(err)}`);
  }
  let verified = false;
  try {
    verified = csr.verify();
  } catch {
    verified = false;
  }
  if (!verified) throw new Error('the certificate request is not signed by its own key');
  const publicKey = csr.publicKey as forge.pki.rsa.PublicKey | null;
  if (!publicKey || publicKey.n.bitLength() < MIN_RSA_BITS) {
    throw new Error(`expected an RSA key of at least ${MIN_RSA_BITS} bits, got ${publicKey?.n.bitLength() ?? 'none'}`);
  }
  const named = csrNames(csr);
  if (named.length === 0) throw new Error(`expected the request to name ${fqdn} in its CN or subjectAltName, got no names`);
  const foreign = named.filter((n) => !n.match(host));
  if (foreign.length > 0) {
    throw new Error(`expected the request to name only ${fqdn}, got ${foreign.map((n) => n.label).join(', ')}`);
  }
  return signLeaf(ca, { cn: fqdn, sans: [host], usage: 'clientAuth', days, publicKey });
}

function parseHostLoose(s: string): SanEntry {
  try {
    return parseHost(s);
  } catch {
    return { type: 'dns', value: s };
  }
}

interface CsrName {
  readonly label: string;
  match(host: SanEntry): boolean;
}

/** Every name the request asks for, in its subject CNs and its requested subjectAltName. */
function csrNames(csr: forge.pki.CertificateSigningRequest): CsrName[] {
  const out: CsrName[] = [];
  for (const a of csr.subject.attributes) {
    if (a.name !== 'commonName') continue;
    const cn = String(a.value);
    out.push({ label: `CN=${cn}`, match: (h) => sameSan(parseHostLoose(cn), h) });
  }
  const req = csr.getAttribute({ name: 'extensionRequest' }) as { extensions?: Array<Record<string, unknown>> } | null;
  for (const ext of req?.extensions ?? []) {
    if (ext['name'] !== 'subjectAltName') continue;
    for (const alt of (ext['altNames'] as Array<{ type: number; value: string; ip?: string }>) ?? []) {
      if (alt.type === 2) {
        out.push({ label: `DNS:${alt.value}`, match: (h) => sameSan({ type: 'dns', value: alt.value }, h) });
      } else if (alt.type === 7) {
        const hex = Buffer.from(alt.value, 'binary').toString('hex');
        out.push({ label: `IP:${alt.ip ?? hex}`, match: (h) => h.type === 'ip' && ipBytes(h.value) === hex });
      } else {
        // Email, URI and other GeneralName forms never name a PushProx host.
        out.push({ label: `GeneralName type ${alt.type}`, match: () => false });
      }
    }
  }
  return out;
}

/** SHA-256 of the DER certificate, upper-case hex with colons (as `openssl x509 -fingerprint -sha256`). */
export function fingerprintSha256(certPem: string): string {
  const der = new X509Certificate(certPem).raw;
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
}
