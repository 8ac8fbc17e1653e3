import {
  commaList,
  ERROR_CODES,
  formatDuration,
  messageOf,
  PATH_POLL,
  PATH_PUSH,
  type ListenAddress,
  type LogFormat,
  type LogLevel,
} from '@pushprox/shared';
import type { ClientArgs } from './cli.js';
import { resolveNatsConfig, type ClientNatsConfig } from './nats/options.js';
import { resolveFqdn } from './scraping/fqdn.js';
import { scrapePolicy, type ScrapePolicy } from './scraping/scrape-policy.js';
import { configError, hasTlsFiles, loadTlsFiles, readFlagFile, type TlsFiles, type TlsMaterial } from './http/tls-files.js';
import { firstToken, TokenFile } from './http/token-file.js';
import { clientMetaHeader, targetsOf, type ClientTarget } from './targets/targets.js';
import { labelSet } from './targets/labels.js';
import { directWebOf, moduleSourcesOf, type DirectWebConfig } from './modules/flags.js';
import type { ModuleSources } from './modules/load.js';

export type { TlsFiles, TlsMaterial };

/** Everything the client needs, resolved once from the flags and frozen. */
export interface ClientConfig {
  /** The first of `targets`: the FQDN of a plain client (and the one enrollment and renewal use). */
  readonly fqdn: string;
  /**
   * Every FQDN this client polls for, with its labels and modules; one for a
   * plain client. Default: [{ fqdn, labels: {}, modules: [] }].
   */
  readonly targets?: readonly ClientTarget[];
  /**
   * Normalised like upstream: trailing slashes stripped, exactly one added.
   * '' (with pollUrl and pushUrl ''): no proxy, for a client on NATS only or
   * one that only serves its modules on --web.listen-address.
   */
  readonly proxyUrl: string;
  /** `poll` resolved against proxyUrl (so a path prefix is kept). */
  readonly pollUrl: string;
  /** `push` resolved against proxyUrl. */
  readonly pushUrl: string;
  /**
   * Every --proxy-url (given more than once, or comma-separated), the first
   * being proxyUrl/pollUrl/pushUrl above: the client holds polls or channels
   * to each. Default: the one above.
   */
  readonly proxies?: readonly ProxyEndpoint[] | undefined;
  /** --nats-url and its options: take scrapes from NATS too (nats/nats-link.ts). Default undefined: none. */
  readonly nats?: ClientNatsConfig | undefined;
  /** --tls.*: for the proxy, and for `_scheme=https` targets unless scrapeTls is set (upstream's one set for both). */
  readonly tls: TlsMaterial;
  /** The --tls.* files, re-read by RunningClient.reloadTls(). Default undefined: nothing to re-read. */
  readonly tlsFiles?: TlsFiles | undefined;
  /** --tls.auto-renew: renew the tlsFiles certificate from the proxy (enroll/renew.ts). Default false. */
  readonly autoRenew?: boolean;
  /** --scrape.tls.*: for https targets only. Default undefined: targets use `tls`. */
  readonly scrapeTls?: TlsMaterial | undefined;
  /** --insecure-skip-verify: do not verify targets' certificates (never the proxy's). Default false. */
  readonly insecureSkipVerify?: boolean;
  /** --token-path: file read (cached by mtime) for each scrape's `Authorization: Bearer`. Default undefined: none. */
  readonly tokenPath?: string | undefined;
  /** `Bearer <token>` read from --client.token-file, for /poll and /push; undefined for none. */
  readonly authorization: string | undefined;
  /** undefined: no metrics server. */
  readonly metricsAddr: ListenAddress | undefined;
  readonly retryInitialWaitMs: number;
  readonly retryMaxWaitMs: number;
  /** --proxy.retry.fast-period: quick retries for this long after a failure (BackoffOptions.fastPeriodMs); 0: none. */
  readonly retryFastPeriodMs: number;
  readonly scrapeConcurrency: number;
  /**
   * --proxy.channel (default true): use a channel (FEATURE_CHANNEL) when the
   * proxy lists it. Invisible to an upstream proxy, which never lists it: the
   * client then polls exactly as upstream's does.
   */
  readonly channel: boolean;
  readonly shutdownTimeoutMs: number;
  /** What may be scraped (--allow-port, --use-localhost, --scrape.allow, --scrape.methods). */
  readonly scrapePolicy: ScrapePolicy;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  /** --config.file, --config.dirs: where modules are read from (at start and on reload). Default none: no modules. */
  readonly modules?: ModuleSources | undefined;
  /** --web.listen-address and its --web.* flags: the modules served directly. Default undefined: not served. */
  readonly web?: DirectWebConfig | undefined;
}

/** One proxy the client polls. */
export interface ProxyEndpoint {
  readonly proxyUrl: string;
  readonly pollUrl: string;
  readonly pushUrl: string;
}

/**
 * `strings.TrimRight(url, "/") + "/"` as upstream, then `poll`/`push` resolve
 * relative to it. Only http and https make sense for a proxy.
 */
export function normaliseProxyUrl(input: string): { proxyUrl: string; pollUrl: string; pushUrl: string } {
  if (input.trim() === '') throw configError('--proxy-url flag must be specified: expected an http(s) URL, got ""');
  const proxyUrl = input.replace(/\/+$/, '') + '/';
  let base: URL;
  try {
    base = new URL(proxyUrl);
  } catch (err) {
    throw configError(`invalid value for --proxy-url: expected an absolute http(s) URL such as http://proxy:8080, got ${JSON.stringify(input)}`, err);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw configError(`invalid value for --proxy-url: expected an http or https URL, got scheme ${JSON.stringify(base.protocol.slice(0, -1))} in ${JSON.stringify(input)}`);
  }
  return {
    proxyUrl,
    // The constants are origin-form (`/poll`); relative resolution keeps a path prefix.
    pollUrl: new URL(PATH_POLL.slice(1), base).href,
    pushUrl: new URL(PATH_PUSH.slice(1), base).href,
  };
}

/** The bearer token: the first word of the first line that is not blank or a # comment. */
async function readToken(file: string | undefined): Promise<string | undefined> {
  const text = (await readFlagFile('client.token-file', file))?.toString('utf8');
  if (text === undefined) return undefined;
  const token = firstToken(text);
  if (!token) throw configError(`invalid --client.token-file ${JSON.stringify(file)}: expected a token on its first line, found none`);
  return `Bearer ${token}`;
}

/** Reads and checks the --tls.* files (see loadTlsFiles). */
export function loadTlsMaterial(args: Pick<ClientArgs, 'tls.cacert' | 'tls.cert' | 'tls.key'>): Promise<TlsMaterial> {
  return loadTlsFiles('tls', tlsFilesOf(args, 'tls'));
}

function tlsFilesOf(args: Partial<ClientArgs>, prefix: 'tls' | 'scrape.tls'): TlsFiles {
  return Object.freeze({ cacert: args[`${prefix}.cacert`], cert: args[`${prefix}.cert`], key: args[`${prefix}.key`] });
}

/** --scrape.tls.* when any is given; otherwise undefined (targets use --tls.*, as upstream). */
async function loadScrapeTls(args: ClientArgs): Promise<TlsMaterial | undefined> {
  const files = tlsFilesOf(args, 'scrape.tls');
  return hasTlsFiles(files) ? loadTlsFiles('scrape.tls', files) : undefined;
}

/** Checks --token-path once at startup; scrapes re-read it. */
async function checkTokenPath(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  if (file === '') throw configError('invalid value for --token-path: expected a file name, got ""');
  await new TokenFile(file, ERROR_CODES.CONFIG_INVALID).authorization();
  return file;
}

function nonNegative(flag: string, ms: number): number {
  if (!(ms >= 0)) throw configError(`invalid value for --${flag}: expected a duration of 0s or more, got ${formatDuration(ms)}`);
  return ms;
}

export interface ResolveConfigDeps {
  /** Default: resolveFqdn() (hostname, then DNS, bounded to 1 s). */
  readonly defaultFqdn?: () => Promise<string>;
}

/** Turns parsed flags into a frozen ClientConfig; throws PushProxError(CONFIG_INVALID) naming the flag. */
export async function resolveConfig(args: ClientArgs, deps: ResolveConfigDeps = {}): Promise<ClientConfig> {
  let nats: ClientNatsConfig | undefined;
  try {
    nats = resolveNatsConfig(args as unknown as Record<string, unknown>);
  } catch (err) {
    throw configError(messageOf(err), err);
  }
  if (args['proxy-url'] === undefined && !nats && args['web.listen-address'] === undefined) {
    throw configError('--proxy-url flag must be specified (or --nats-url, or --web.listen-address to serve the modules alone): expected an http(s) URL, got none');
  }
  // --proxy-url may be repeated or comma-separated; a client on NATS or serving its modules alone may have none.
  const proxyUrls = commaList(args['proxy-url']);
  const proxies = [...new Set(proxyUrls)].map((u) => Object.freeze(normaliseProxyUrl(u)));
  const urls = proxies[0] ?? { proxyUrl: '', pollUrl: '', pushUrl: '' };
  if (args.fqdn === '') throw configError('invalid value for --fqdn: expected a host name, got ""');
  let policy: ScrapePolicy;
  try {
    policy = scrapePolicy({
      allowPorts: args['allow-port'],
      useLocalhost: args['use-localhost'],
      allow: args['scrape.allow'],
      methods: args['scrape.methods'],
    });
  } catch (err) {
    throw configError(messageOf(err), err);
  }
  let web: DirectWebConfig | undefined;
  try {
    web = directWebOf(args);
  } catch (err) {
    throw configError(messageOf(err), err);
  }
  const given = typeof args.fqdn === 'string' ? [args.fqdn] : args.fqdn;
  const fqdns = given !== undefined && given.length > 0 ? given : [await (deps.defaultFqdn ?? resolveFqdn)()];
  let targets: readonly ClientTarget[];
  try {
    targets = targetsOf(fqdns, labelSet(args.label ?? []));
    for (const t of targets) clientMetaHeader(t, undefined);
  } catch (err) {
    throw configError(messageOf(err), err);
  }
  const fqdn = targets[0]!.fqdn;
  const autoRenew = args['tls.auto-renew'] ?? false;
  // Renewal asks for a certificate naming one FQDN; a gateway's would lose its other names.
  if (autoRenew && targets.length > 1) {
    throw configError(
      `--tls.auto-renew renews a certificate for one name, but --fqdn is given ${targets.length} times (a gateway): ` +
        'use a certificate naming every FQDN, renewed outside the client, or a --client.token-file token',
    );
  }
  const renewMissing = (['tls.cacert', 'tls.cert', 'tls.key'] as const).filter((f) => !args[f]);
  if (autoRenew && urls.proxyUrl === '') throw configError('--tls.auto-renew needs --proxy-url (the proxy renews the certificate)');
  if (autoRenew && renewMissing.length > 0) {
    throw configError(`--tls.auto-renew needs --tls.cacert, --tls.cert and --tls.key (the files it renews), got no ${renewMissing.map((f) => `--${f}`).join(', ')}`);
  }
  return Object.freeze({
    autoRenew,
    fqdn,
    targets,
    ...urls,
    proxies: Object.freeze(proxies),
    nats,
    tls: await loadTlsMaterial(args),
    tlsFiles: tlsFilesOf(args, 'tls'),
    scrapeTls: await loadScrapeTls(args),
    insecureSkipVerify: args['insecure-skip-verify'] ?? false,
    tokenPath: await checkTokenPath(args['token-path']),
    authorization: await readToken(args['client.token-file']),
    metricsAddr: args['metrics-addr'],
    retryInitialWaitMs: nonNegative('proxy.retry.initial-wait', args['proxy.retry.initial-wait']),
    retryMaxWaitMs: nonNegative('proxy.retry.max-wait', args['proxy.retry.max-wait']),
    retryFastPeriodMs: nonNegative('proxy.retry.fast-period', args['proxy.retry.fast-period']),
    scrapeConcurrency: args['scrape.concurrency'],
    channel: args['proxy.channel'] ?? true,
    shutdownTimeoutMs: nonNegative('shutdown.timeout', args['shutdown.timeout']),
    scrapePolicy: policy,
    logLevel: args['log.level'],
    logFormat: args['log.format'],
    modules: moduleSourcesOf(args),
    web,
  });
}
