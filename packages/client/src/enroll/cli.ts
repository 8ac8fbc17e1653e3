import fs from 'node:fs';
import path from 'node:path';
import {
  baseCli,
  CERT_MODE,
  coerceWith,
  createLogger,
  ERROR_CODES,
  isPushProxError,
  KEY_MODE,
  messageOf,
  parseOrExit,
  PushProxError,
  replaceFiles,
  type LogFormat,
  type LogLevel,
} from '@pushprox/shared';
import { resolveFqdn } from '../scraping/fqdn.js';
import { firstToken } from '../http/token-file.js';
import { newKeyAndCsr } from './csr.js';
import { ensureDir, tlsPaths } from './files.js';
import { fingerprintOf, formatFingerprint, parseFingerprint } from './fingerprint.js';
import { ENROLL_STEP_TIMEOUT_MS, fetchCa, postCsr } from './http.js';
import { checkIssued } from './verify.js';

/** `pushprox-client enroll` flags, resolved. */
export interface EnrollArgs {
  readonly proxyUrl: string;
  readonly fqdn: string | undefined;
  readonly token: string | undefined;
  readonly tokenFile: string | undefined;
  readonly caFingerprint: Buffer;
  readonly tlsDir: string;
  readonly force: boolean;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
}

function parseProxyUrl(s: string): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new Error(`expected an absolute https URL such as https://proxy.example:8080, got ${JSON.stringify(s)}`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error(`expected an https (or http) URL, got scheme ${JSON.stringify(u.protocol.slice(0, -1))}`);
  return s;
}

export async function parseEnrollArgs(argv: readonly string[], version: string): Promise<EnrollArgs> {
  const parser = baseCli(argv, 'pushprox-client enroll', version)
    .usage(
      '$0 --proxy-url=<url> --enroll.ca-fingerprint=<sha256> (--enroll.token=<t> | --enroll.token-file=<f>) --tls.dir=<dir>\n\n' +
        'Generates a private key on this host, has the proxy sign a certificate for this FQDN with a bootstrap token, ' +
        'and stores ca.crt, client.key and client.crt in --tls.dir. The proxy\'s CA is trusted only if its SHA-256 ' +
        'fingerprint equals --enroll.ca-fingerprint (printed by "pushprox-proxy pki init").',
    )
    .option('proxy-url', { type: 'string', demandOption: true, describe: 'The proxy to enroll with (https; http only with a warning).', coerce: coerceWith('proxy-url', parseProxyUrl) })
    .option('fqdn', { type: 'string', describe: 'FQDN to enroll for: the CN and only name of the certificate.', defaultDescription: 'this machine\'s FQDN, as the client resolves it' })
    .option('enroll.token', { type: 'string', describe: 'Bootstrap token (visible in the process list; prefer --enroll.token-file).' })
    .option('enroll.token-file', { type: 'string', describe: 'File holding the bootstrap token: the first word of its first non-comment line.' })
    .option('enroll.ca-fingerprint', {
      type: 'string',
      demandOption: true,
      describe: 'SHA-256 fingerprint of the proxy\'s CA certificate (sha256: prefix and colons optional).',
      coerce: coerceWith('enroll.ca-fingerprint', parseFingerprint),
    })
    .option('tls.dir', { type: 'string', demandOption: true, describe: 'Directory for ca.crt (0644), client.key (0600), client.crt (0644); created 0700 if missing.' })
    .option('enroll.force', { type: 'boolean', default: false, describe: 'Replace an existing client.crt and client.key.' })
    .check((a) => {
      const given = ['enroll.token', 'enroll.token-file'].filter((k) => a[k] !== undefined);
      if (given.length !== 1) throw new Error(`expected exactly one of --enroll.token and --enroll.token-file, got ${given.length === 0 ? 'neither' : 'both'}`);
      if (a['fqdn'] === '') throw new Error('invalid value for --fqdn: expected a host name, got ""');
      return true;
    });
  const a = (await parseOrExit(parser)) as Record<string, unknown>;
  return Object.freeze({
    proxyUrl: a['proxy-url'] as string,
    fqdn: a['fqdn'] as string | undefined,
    token: a['enroll.token'] as string | undefined,
    tokenFile: a['enroll.token-file'] as string | undefined,
    caFingerprint: a['enroll.ca-fingerprint'] as Buffer,
    tlsDir: path.resolve(a['tls.dir'] as string),
    force: a['enroll.force'] as boolean,
    logLevel: a['log.level'] as LogLevel,
    logFormat: a['log.format'] as LogFormat,
  });
}

function readToken(args: EnrollArgs): string {
  if (args.token !== undefined) return args.token;
  let text: string;
  try {
    text = fs.readFileSync(args.tokenFile!, 'utf8');
  } catch (err) {
    throw new Error(`cannot read --enroll.token-file ${args.tokenFile}: ${messageOf(err)}`);
  }
  const token = firstToken(text);
  if (!token) throw new Error(`--enroll.token-file ${args.tokenFile}: expected a token on its first non-comment line, found none`);
  return token;
}

/**
 * Enrolls and writes the files. Nothing is written unless the proxy's CA
 * matched the pin and the issued certificate checked out.
 */
export async function enroll(args: EnrollArgs, out: (line: string) => void, warn: (msg: string) => void): Promise<void> {
  const paths = tlsPaths(args.tlsDir);
  if (!args.force) {
    const existing = [paths.cert, paths.key].find((f) => fs.existsSync(f));
    if (existing) throw new Error(`${existing} already exists; pass --enroll.force to replace it`);
  }
  const token = readToken(args);
  if (new URL(args.proxyUrl).protocol === 'http:') {
    warn(`--proxy-url ${args.proxyUrl} is plain http: the bootstrap token and certificate travel in clear text`);
  }
  const fqdn = args.fqdn ?? (await resolveFqdn());
  const [pair, ca] = await Promise.all([newKeyAndCsr(fqdn), fetchCa(args.proxyUrl, ENROLL_STEP_TIMEOUT_MS)]);
  const got = fingerprintOf(ca.raw);
  if (!got.equals(args.caFingerprint)) {
    throw new PushProxError(
      ERROR_CODES.ENROLL_CA_MISMATCH,
      `the proxy's CA does not match --enroll.ca-fingerprint: expected sha256:${formatFingerprint(args.caFingerprint)}, ` +
        `got sha256:${formatFingerprint(got)} (${ca.subject.replace(/\n/g, ', ')}); nothing was written`,
    );
  }
  const caPem = ca.toString();
  const certPem = await postCsr(args.proxyUrl, pair.csrPem, { token, tls: { ca: caPem }, timeoutMs: ENROLL_STEP_TIMEOUT_MS });
  const cert = checkIssued(certPem, ca, pair.keyPem, fqdn);
  ensureDir(args.tlsDir);
  replaceFiles([
    { file: paths.key, data: pair.keyPem, mode: KEY_MODE },
    { file: paths.cert, data: cert.toString(), mode: CERT_MODE },
    { file: paths.ca, data: caPem, mode: CERT_MODE },
  ]);
  out(`wrote ${paths.ca}`);
  out(`wrote ${paths.key}`);
  out(`wrote ${paths.cert}`);
  out(`certificate for ${fqdn}, serial ${cert.serialNumber}, valid until ${new Date(cert.validTo).toISOString()}`);
  out('run the client with:');
  out(`  pushprox-client --proxy-url=${args.proxyUrl} --fqdn=${fqdn} --tls.cacert=${paths.ca} --tls.cert=${paths.cert} --tls.key=${paths.key} --tls.auto-renew`);
}

/** `pushprox-client enroll ...`: 0 enrolled, 1 refused or failed, 2 usage error (exits inside parseOrExit). */
export async function runEnroll(argv: readonly string[], version: string): Promise<number> {
  const args = await parseEnrollArgs(argv, version);
  const logger = createLogger({ level: args.logLevel, format: args.logFormat });
  try {
    await enroll(args, (line) => process.stdout.write(`${line}\n`), (msg) => logger.warn(msg));
    return 0;
  } catch (err) {
    process.stderr.write(`error: ${isPushProxError(err) ? `${err.code}: ` : ''}${messageOf(err)}\n`);
    return 1;
  }
}
