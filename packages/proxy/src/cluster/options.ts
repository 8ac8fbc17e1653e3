import { allowRepeated, commaList, durationFlag } from '@pushprox/shared';
import type { Argv } from 'yargs';

/** The proxy cluster's settings (--cluster.*); undefined in ProxyConfig without --cluster.nats-url. No NATS import here: cli.ts loads it always. */
export interface ClusterConfig {
  /** --cluster.nats-url: NATS servers (nats://, tls://), repeatable or comma-separated. */
  readonly natsUrls: readonly string[];
  /** --cluster.nats-user, with the password read from --cluster.nats-password-file. */
  readonly user: string | undefined;
  readonly passwordFile: string | undefined;
  /** --cluster.nats-creds-file: a NATS credentials file (JWT and NKey seed). */
  readonly credsFile: string | undefined;
  /** --cluster.nats-tls-ca-file, -cert-file, -key-file. */
  readonly tlsCaFile: string | undefined;
  readonly tlsCertFile: string | undefined;
  readonly tlsKeyFile: string | undefined;
  /** --cluster.announce-interval: full presence announcements; a dead proxy's clients expire after three. */
  readonly announceIntervalMs: number;
}

export const CLUSTER_DEFAULTS = Object.freeze({ announceInterval: '10s' });

/** Adds the --cluster.* flags to the proxy's parser. */
export function clusterFlags<T>(parser: Argv<T>): Argv<T> {
  return allowRepeated(parser, 'cluster.nats-url')
    .option('cluster.nats-url', {
      type: 'string',
      describe:
        'Join a cluster of proxies over NATS (nats://host:4222, tls://host:4222); repeat or separate with commas for several servers. Scrapes for a client held by another proxy are forwarded to it, and /clients lists the whole fleet. Default: no cluster.',
    })
    .option('cluster.nats-user', { type: 'string', describe: 'NATS user name (with --cluster.nats-password-file).' })
    .option('cluster.nats-password-file', { type: 'string', describe: 'File holding the NATS password (trailing newline ignored).' })
    .option('cluster.nats-creds-file', { type: 'string', describe: 'NATS credentials file (user JWT and NKey seed, as `nsc` writes it).' })
    .option('cluster.nats-tls-ca-file', { type: 'string', describe: 'CA certificates that verify the NATS servers.' })
    .option('cluster.nats-tls-cert-file', { type: 'string', describe: 'Client certificate for NATS (with --cluster.nats-tls-key-file).' })
    .option('cluster.nats-tls-key-file', { type: 'string', describe: 'Key of --cluster.nats-tls-cert-file.' })
    .option('cluster.announce-interval', {
      type: 'string',
      default: CLUSTER_DEFAULTS.announceInterval,
      describe:
        'How often each proxy announces all the clients it holds; joins and leaves are announced within 0.5s. A proxy that stops announcing (killed) has its clients forgotten after three intervals.',
      coerce: durationFlag('cluster.announce-interval'),
    });
}

/** The ClusterConfig of parsed flags, or undefined without --cluster.nats-url; throws with the flag's name when invalid. */
export function resolveClusterConfig(a: Record<string, unknown>): ClusterConfig | undefined {
  const urls = commaList(a['cluster.nats-url']);
  const str = (k: string): string | undefined => (a[k] as string | undefined) || undefined;
  const others = ['cluster.nats-user', 'cluster.nats-password-file', 'cluster.nats-creds-file', 'cluster.nats-tls-ca-file', 'cluster.nats-tls-cert-file', 'cluster.nats-tls-key-file'];
  if (urls.length === 0) {
    const stray = others.find((k) => str(k) !== undefined);
    if (stray) throw new Error(`--${stray} needs --cluster.nats-url, which enables the cluster`);
    return undefined;
  }
  for (const u of urls) {
    if (!/^(nats|tls):\/\/[^\s/]+\/?$/.test(u) && !/^[^\s/:]+(:\d+)?$/.test(u)) {
      throw new Error(`invalid value for --cluster.nats-url: expected nats://host:port or tls://host:port, got ${JSON.stringify(u)}`);
    }
  }
  if ((str('cluster.nats-user') === undefined) !== (str('cluster.nats-password-file') === undefined)) {
    throw new Error('--cluster.nats-user and --cluster.nats-password-file go together');
  }
  if ((str('cluster.nats-tls-cert-file') === undefined) !== (str('cluster.nats-tls-key-file') === undefined)) {
    throw new Error('--cluster.nats-tls-cert-file and --cluster.nats-tls-key-file go together');
  }
  const interval = a['cluster.announce-interval'] as number;
  if (!(interval >= 100)) throw new Error(`invalid value for --cluster.announce-interval: expected at least 100ms, got ${interval}ms`);
  return Object.freeze({
    natsUrls: Object.freeze(urls),
    user: str('cluster.nats-user'),
    passwordFile: str('cluster.nats-password-file'),
    credsFile: str('cluster.nats-creds-file'),
    tlsCaFile: str('cluster.nats-tls-ca-file'),
    tlsCertFile: str('cluster.nats-tls-cert-file'),
    tlsKeyFile: str('cluster.nats-tls-key-file'),
    announceIntervalMs: interval,
  });
}
