import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { baseCli, parseOrExit, positiveIntFlag } from '@pushprox/shared';
import { PROXY_VERSION } from '../cli.js';
import { createCa, fingerprintSha256, issueClientCert, issueServerCert } from './ca.js';
import { parseHost, parseSanList, sanToString, type SanEntry } from './names.js';
import {
  caPaths,
  clientPaths,
  ensurePrivateDir,
  firstExisting,
  loadCa,
  PkiError,
  serverPaths,
  writePair,
} from './store.js';

type Command =
  | { kind: 'init'; dir: string; sans: SanEntry[]; days: number; caDays: number; force: boolean }
  | { kind: 'issue'; dir: string; fqdn: string; days: number; force: boolean };

// Flags that only `init` reads; `issue` refuses them rather than ignore them.
const INIT_ONLY = ['pki.san', 'pki.ca-days'] as const;
const MAX_DAYS = 36500;

function flagCoerce<T>(flag: string, parse: (s: string) => T): (v: unknown) => T {
  return (v: unknown) => {
    try {
      return parse(String(v));
    } catch (err) {
      throw new Error(`invalid value for ${flag}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}

/** Parses `pushprox-proxy pki ...` argv; usage errors exit 2 through parseOrExit. */
async function parsePkiArgs(argv: readonly string[]): Promise<Command> {
  let picked: Command | undefined;
  const given = (flag: string) => argv.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));
  const parser = baseCli(argv, 'pushprox-proxy pki', PROXY_VERSION)
    .usage('$0 <command> [flags]\n\nBuilt-in certificate authority for mutual TLS between the proxy and its clients.')
    .option('pki.dir', {
      type: 'string',
      demandOption: true,
      describe: 'Directory holding ca.crt, ca.key, server.crt, server.key and clients/ (created 0700).',
    })
    .option('pki.days', {
      type: 'string',
      default: '825',
      describe: 'Validity of issued server and client certificates, in days (capped at the CA\'s expiry).',
      coerce: flagCoerce('--pki.days', positiveIntFlag('pki.days', MAX_DAYS)),
    })
    .option('pki.force', {
      type: 'boolean',
      default: false,
      describe: 'Replace an existing CA (init) or client certificate (issue).',
    })
    .option('pki.san', {
      type: 'string',
      describe: 'Comma-separated server names, each DNS:name, IP:addr or a bare name/IP; the first is the CN.',
      coerce: flagCoerce('--pki.san', parseSanList),
    })
    .option('pki.ca-days', {
      type: 'string',
      default: '3650',
      describe: 'Validity of the CA certificate, in days.',
      coerce: flagCoerce('--pki.ca-days', positiveIntFlag('pki.ca-days', MAX_DAYS)),
    })
    .group(['pki.dir', 'pki.days', 'pki.force'], 'Flags of init and issue:')
    .group(['pki.san', 'pki.ca-days'], 'Flags of init only:')
    .command(
      'init',
      'Create the CA (ca.crt, ca.key) and the proxy\'s server certificate (server.crt, server.key).',
      (y) => y.demandOption('pki.san', 'init needs --pki.san: the names clients reach the proxy by'),
      (a) => {
        picked = {
          kind: 'init',
          dir: a['pki.dir'] as string,
          sans: a['pki.san'] as unknown as SanEntry[],
          days: a['pki.days'] as unknown as number,
          caDays: a['pki.ca-days'] as unknown as number,
          force: a['pki.force'] as boolean,
        };
      },
    )
    .command(
      'issue <fqdn>',
      'Issue a client certificate clients/<fqdn>.crt and .key, signed by the CA.',
      (y) =>
        y
          .positional('fqdn', {
            type: 'string',
            describe: 'The client\'s --fqdn: a host name or IP address; becomes the CN and the only SAN.',
            coerce: flagCoerce('<fqdn>', (s) => parseHost(s).value),
          })
          .check(() => {
            const bad = INIT_ONLY.filter(given);
            if (bad.length > 0) throw new Error(`${bad.map((f) => `--${f}`).join(', ')} applies to "pki init" only`);
            return true;
          }),
      (a) => {
        picked = {
          kind: 'issue',
          dir: a['pki.dir'] as string,
          fqdn: a['fqdn'] as string,
          days: a['pki.days'] as unknown as number,
          force: a['pki.force'] as boolean,
        };
      },
    )
    .demandCommand(1, 1, 'expected a command: init or issue', 'expected one command: init or issue');
  await parseOrExit(parser);
  if (!picked) throw new PkiError('no command was run');
  return picked;
}

function describeCert(certPem: string): string {
  const x = new X509Certificate(certPem);
  const san = x.subjectAltName ? `, ${x.subjectAltName.replace(/IP Address:/g, 'IP:')}` : '';
  return `${x.subject.replace(/\n/g, ', ')}${san}, serial ${x.serialNumber}, valid until ${new Date(x.validTo).toISOString()}`;
}

function runInit(c: Extract<Command, { kind: 'init' }>, out: (s: string) => void): void {
  const dir = path.resolve(c.dir);
  const ca = caPaths(dir);
  const existing = firstExisting([ca.cert, ca.key]);
  if (existing && !c.force) {
    throw new PkiError(
      `${existing} already exists; replacing the CA invalidates every certificate it signed. Pass --pki.force to replace it.`,
    );
  }
  ensurePrivateDir(dir, (m) => process.stderr.write(`warning: ${m}\n`));
  const caPair = createCa({ days: c.caDays });
  const server = issueServerCert(caPair, c.sans, c.days);
  writePair(ca, caPair);
  out(`wrote ${ca.key} (0600)\nwrote ${ca.cert} (0644): ${describeCert(caPair.certPem)}\n`);
  const sp = serverPaths(dir);
  writePair(sp, server);
  out(`wrote ${sp.key} (0600)\nwrote ${sp.cert} (0644): ${describeCert(server.certPem)}\n`);
  out(`server names: ${c.sans.map(sanToString).join(', ')}\n`);
  out(`CA SHA-256 fingerprint: ${fingerprintSha256(caPair.certPem)}\n`);
}

function runIssue(c: Extract<Command, { kind: 'issue' }>, out: (s: string) => void): void {
  const dir = path.resolve(c.dir);
  const ca = loadCa(dir);
  const cp = clientPaths(dir, c.fqdn);
  const existing = firstExisting([cp.cert, cp.key]);
  if (existing && !c.force) throw new PkiError(`${existing} already exists. Pass --pki.force to replace it.`);
  ensurePrivateDir(path.dirname(cp.cert), (m) => process.stderr.write(`warning: ${m}\n`));
  const pair = issueClientCert(ca, c.fqdn, c.days);
  writePair(cp, pair);
  out(`wrote ${cp.key} (0600)\nwrote ${cp.cert} (0644): ${describeCert(pair.certPem)}\n`);
}

/**
 * Runs `pushprox-proxy pki <argv>` and resolves to the exit code: 0 done,
 * 1 for a failure outside the command line (existing or missing files, I/O).
 * Usage errors exit 2 from inside parsing, as for the proxy itself.
 */
export async function runPki(argv: readonly string[]): Promise<number> {
  const command = await parsePkiArgs(argv);
  const out = (s: string) => process.stdout.write(s);
  try {
    if (command.kind === 'init') runInit(command, out);
    else runIssue(command, out);
    return 0;
  } catch (err) {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
