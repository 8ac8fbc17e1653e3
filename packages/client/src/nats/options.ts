import { allowRepeated, commaList } from '@pushprox/shared';
import type { Argv } from 'yargs';

/** A client on NATS directly (--nats-url); no NATS import here: cli.ts loads it always. */
export interface ClientNatsConfig {
  /** --nats-url: NATS servers, repeatable or comma-separated. */
  readonly urls: readonly string[];
  /** --nats-creds-file: credentials file (user JWT and NKey seed). */
  readonly credsFile: string | undefined;
  /** --nats-user, with the password read from --nats-password-file. */
  readonly user: string | undefined;
  readonly passwordFile: string | undefined;
  /** --nats-tls-ca-file: CA certificates that verify the NATS servers. */
  readonly tlsCaFile: string | undefined;
}

/** How often a client on NATS announces its FQDN; proxies forget it after three intervals. */
export const CLIENT_ANNOUNCE_MS = 10_000;

export function natsFlags<T>(parser: Argv<T>): Argv<T> {
  return allowRepeated(parser, 'nats-url')
    .option('nats-url', {
      type: 'string',
      describe:
        'Take scrapes from NATS instead of polling a proxy (nats://host:4222, tls://host:4222; repeat or separate with commas): the proxies of a cluster (pushprox-proxy --cluster.nats-url) send this FQDN\'s scrapes to the subject pushprox.client.<fqdn>, a queue group, so replicas of one client share them.',
    })
    .option('nats-creds-file', { type: 'string', describe: 'NATS credentials file (user JWT and NKey seed), for --nats-url.' })
    .option('nats-user', { type: 'string', describe: 'NATS user name (with --nats-password-file), for --nats-url.' })
    .option('nats-password-file', { type: 'string', describe: 'File holding the NATS password (trailing newline ignored).' })
    .option('nats-tls-ca-file', { type: 'string', describe: 'CA certificates that verify the NATS servers (tls:// URLs).' });
}

/** The parsed --nats-* flags; undefined without --nats-url. Throws with the flag's name when invalid. */
export function resolveNatsConfig(a: Record<string, unknown>): ClientNatsConfig | undefined {
  const str = (k: string): string | undefined => (a[k] as string | undefined) || undefined;
  const urls = commaList(a['nats-url']);
  const others = ['nats-creds-file', 'nats-user', 'nats-password-file', 'nats-tls-ca-file'];
  if (urls.length === 0) {
    const stray = others.find((k) => str(k) !== undefined);
    if (stray) throw new Error(`--${stray} needs --nats-url`);
    return undefined;
  }
  for (const u of urls) {
    if (!/^(nats|tls):\/\/[^\s/]+\/?$/.test(u)) throw new Error(`invalid value for --nats-url: expected nats://host:port or tls://host:port, got ${JSON.stringify(u)}`);
  }
  if ((str('nats-user') === undefined) !== (str('nats-password-file') === undefined)) {
    throw new Error('--nats-user and --nats-password-file go together');
  }
  return Object.freeze({
    urls: Object.freeze(urls),
    credsFile: str('nats-creds-file'),
    user: str('nats-user'),
    passwordFile: str('nats-password-file'),
    tlsCaFile: str('nats-tls-ca-file'),
  });
}
