import os from 'node:os';
import type { Argv } from 'yargs';
import { natsFlags } from './nats/options.js';
import {
  allowRepeated,
  baseCli,
  coerceWith,
  DEFAULT_CLIENT_METRICS_ADDR,
  durationFlag,
  listenAddressFlag,
  listFlag,
  parseOrExit,
  positiveIntFlag,
  type ListenAddress,
  type LogFormat,
  type LogLevel,
} from '@pushprox/shared';
import {
  DEFAULT_SCRAPE_METHODS,
  parseAllowList,
  parseMethods,
  parsePortList,
  USE_LOCALHOST_NEEDS_ALLOW_PORT,
  type ScrapePattern,
} from './scraping/scrape-policy.js';
import { parseLabel } from './targets/labels.js';
import { moduleFlags } from './modules/flags.js';

/** Upper bound of --scrape.concurrency: each unit may hold a socket to the proxy. */
export const MAX_SCRAPE_CONCURRENCY = 1024;
export const DEFAULT_SCRAPE_CONCURRENCY = 8;

/** Flags as parsed, before they are checked against each other and the files they name. */
export interface ClientArgs {
  /** Several: a gateway polling for each (a single string: one). */
  readonly fqdn: string | readonly string[] | undefined;
  /** --label key=value pairs, in order. Default none. */
  readonly label?: readonly (readonly [string, string])[] | undefined;
  /** Upstream requires it; ours may leave it out with --nats-url or --web.listen-address (checked in config.ts). */
  readonly 'proxy-url': string | readonly string[] | undefined;
  readonly 'tls.cacert': string | undefined;
  readonly 'tls.cert': string | undefined;
  readonly 'tls.key': string | undefined;
  // Our additions below are optional so hand-built args (tests, embedders) need not list them.
  readonly 'scrape.tls.cacert'?: string | undefined;
  readonly 'scrape.tls.cert'?: string | undefined;
  readonly 'scrape.tls.key'?: string | undefined;
  /** Default false. */
  readonly 'insecure-skip-verify'?: boolean;
  readonly 'token-path'?: string | undefined;
  /** Default false. */
  readonly 'tls.auto-renew'?: boolean;
  readonly 'client.token-file': string | undefined;
  /** undefined when the flag was given as the empty string (metrics disabled). */
  readonly 'metrics-addr': ListenAddress | undefined;
  /** Milliseconds. */
  readonly 'proxy.retry.initial-wait': number;
  /** Milliseconds. */
  readonly 'proxy.retry.max-wait': number;
  /** Milliseconds. */
  readonly 'proxy.retry.fast-period': number;
  readonly 'scrape.concurrency': number;
  /** Default false. */
  readonly 'proxy.channel'?: boolean;
  /** Milliseconds. */
  readonly 'shutdown.timeout': number;
  /** undefined: any port. */
  readonly 'allow-port': readonly number[] | undefined;
  readonly 'use-localhost': boolean;
  /** undefined: any port and path. */
  readonly 'scrape.allow': readonly ScrapePattern[] | undefined;
  /** Upper-case. */
  readonly 'scrape.methods': readonly string[];
  readonly 'log.level': LogLevel;
  readonly 'log.format': LogFormat;
  /** --config.file, --config.dirs (modules/flags.ts). Default none. */
  readonly 'config.file'?: readonly string[];
  readonly 'config.dirs'?: readonly string[];
  /** --web.listen-address, --web.config.file, --web.enable-lifecycle (modules/flags.ts). Default none. */
  readonly 'web.listen-address'?: ListenAddress | undefined;
  readonly 'web.config.file'?: string | undefined;
  readonly 'web.enable-lifecycle'?: boolean;
}

/**
 * The `pushprox-client` command line: upstream's flags with upstream's names,
 * defaults and meaning, plus --scrape.concurrency and --shutdown.timeout.
 * Durations use Go syntax (`1s`, `500ms`); coerce helpers reject bad values
 * with a message naming the flag.
 */
export function clientCli(argv: readonly string[], version: string): Argv {
  const metricsAddr = listenAddressFlag('metrics-addr');
  return natsFlags(moduleFlags(allowRepeated(baseCli(argv, 'pushprox-client', version), 'fqdn', 'label', 'proxy-url')))
    .usage('$0 --proxy-url=<url> [flags]\n\nPolls a PushProx proxy for scrape requests and answers them by scraping local targets.')
    // Listed for --help only: main.ts hands `enroll ...` to enroll/cli.ts before this parser runs.
    .command('enroll', 'Get a client certificate from the proxy with a bootstrap token (see "pushprox-client enroll --help").')
    .option('fqdn', {
      type: 'string',
      describe: 'FQDN to register with. Repeat it to serve several hosts of this network (a gateway): each FQDN gets its own polls or channels',
      defaultDescription: `this machine's FQDN (hostname ${JSON.stringify(os.hostname())}, resolved via DNS if it has no dot)`,
      coerce: listFlag('fqdn', String),
    })
    .option('label', {
      type: 'string',
      describe:
        'key=value label sent to our proxy (an upstream proxy ignores it) and shown in its /clients for file_sd and http_sd discovery; repeat for several',
      defaultDescription: 'none',
      coerce: listFlag('label', parseLabel),
    })
    .option('proxy-url', {
      type: 'string',
      describe:
        'Push proxy to talk to (required unless --nats-url or --web.listen-address is given). Give it more than once (or comma-separated) to hold polls or channels to several proxies at once, e.g. one per Prometheus of an HA pair; each scrape is answered to the proxy it came from.',
    })
    .option('tls.cacert', {
      type: 'string',
      describe: '<file> CA certificate to verify peer against (the proxy; also https targets unless --scrape.tls.* is given)',
    })
    .option('tls.cert', {
      type: 'string',
      describe: '<cert> Client certificate file (for the proxy; also https targets unless --scrape.tls.* is given)',
    })
    .option('tls.key', {
      type: 'string',
      describe: '<key> Private key file (for the proxy; also https targets unless --scrape.tls.* is given)',
    })
    .option('scrape.tls.cacert', {
      type: 'string',
      describe:
        '<file> CA certificate to verify _scheme=https targets against. Any --scrape.tls.* flag makes targets use only this set and the proxy only --tls.*',
      defaultDescription: 'with no --scrape.tls.* flag, targets use --tls.*',
    })
    .option('scrape.tls.cert', {
      type: 'string',
      describe: '<cert> Client certificate file for _scheme=https targets (with --scrape.tls.key)',
    })
    .option('scrape.tls.key', {
      type: 'string',
      describe: '<key> Private key file for _scheme=https targets (with --scrape.tls.cert)',
    })
    .option('insecure-skip-verify', {
      type: 'boolean',
      default: false,
      describe: 'Do not verify the certificates of https targets (the proxy\'s are always verified)',
    })
    .option('token-path', {
      type: 'string',
      describe: 'File holding a bearer token sent to targets on every scrape (re-read when it changes), unless the scrape request has its own Authorization',
    })
    .option('tls.auto-renew', {
      type: 'boolean',
      default: false,
      describe:
        'Renew the --tls.cert certificate from the proxy (POST /enroll, see "pushprox-client enroll") at 2/3 of its lifetime and reload it without a restart; needs --tls.cacert, --tls.cert and --tls.key',
    })
    .option('client.token-file', {
      type: 'string',
      describe: 'File holding the bearer token sent with every poll and push (the proxy\'s --client.token-file lists it)',
    })
    .option('metrics-addr', {
      type: 'string',
      default: DEFAULT_CLIENT_METRICS_ADDR,
      describe: 'Serve Prometheus metrics at this address (empty: do not serve)',
      coerce: (v: unknown) => (v === '' ? undefined : metricsAddr(v)),
    })
    .option('proxy.retry.initial-wait', {
      type: 'string',
      default: '1s',
      describe: 'Amount of time to wait after proxy failure',
      coerce: durationFlag('proxy.retry.initial-wait'),
    })
    .option('proxy.retry.max-wait', {
      type: 'string',
      default: '5s',
      describe: 'Maximum amount of time to wait between proxy poll retries',
      coerce: durationFlag('proxy.retry.max-wait'),
    })
    .option('proxy.retry.fast-period', {
      type: 'string',
      default: '15s',
      describe: 'For this long after a proxy failure, retry quickly (200-600ms, jittered) before backing off; 0s: back off at once, as upstream',
      coerce: durationFlag('proxy.retry.fast-period'),
    })
    .option('scrape.concurrency', {
      type: 'string',
      default: String(DEFAULT_SCRAPE_CONCURRENCY),
      describe: 'Scrapes run at once; also the polls kept in flight when the proxy supports multi-poll',
      coerce: positiveIntFlag('scrape.concurrency', MAX_SCRAPE_CONCURRENCY),
    })
    .option('proxy.channel', {
      type: 'boolean',
      default: true,
      describe:
        'When the proxy offers it (our proxy, not upstream), carry scrapes over long-lived upgraded connections instead of one /poll and /push exchange each: less CPU per scrape; falls back to polling if the upgrade is refused. --no-proxy.channel polls always',
    })
    .option('shutdown.timeout', {
      type: 'string',
      default: '10s',
      describe: 'On SIGTERM/SIGINT, how long to wait for in-flight scrapes and pushes',
      coerce: durationFlag('shutdown.timeout'),
    })
    .option('allow-port', {
      type: 'string',
      describe: 'Only scrape targets on these ports (comma-separated, e.g. 9100,9796)',
      defaultDescription: 'any port',
      coerce: coerceWith('allow-port', parsePortList),
    })
    .option('use-localhost', {
      type: 'boolean',
      default: false,
      describe: 'Scrape 127.0.0.1 on the requested port, path and query instead of the FQDN (requires --allow-port)',
    })
    .option('scrape.allow', {
      type: 'string',
      describe: 'Only scrape targets matching one of these patterns :<port>[/path][*] (comma-separated, e.g. :9100/metrics,:9796/*)',
      defaultDescription: 'any port and path',
      coerce: coerceWith('scrape.allow', parseAllowList),
    })
    .option('scrape.methods', {
      type: 'string',
      default: DEFAULT_SCRAPE_METHODS,
      describe: 'Only perform scrapes with these HTTP methods (comma-separated); others are answered 403',
      coerce: coerceWith('scrape.methods', parseMethods),
    })
    .check((args) => {
      if (args['use-localhost'] === true && args['allow-port'] === undefined) throw new Error(USE_LOCALHOST_NEEDS_ALLOW_PORT);
      return true;
    });
}


/** Parses argv, or prints usage/help/version and exits like kingpin. */
export async function parseClientArgs(argv: readonly string[], version: string): Promise<ClientArgs> {
  return (await parseOrExit(clientCli(argv, version))) as unknown as ClientArgs;
}
