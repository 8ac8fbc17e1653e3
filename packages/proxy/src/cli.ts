import {
  baseCli,
  byteSizeFlag,
  coerceWith,
  durationFlag,
  listenAddressFlag,
  parseOrExit,
  positiveIntFlag,
  readVersion,
  type ListenAddress,
  type LogFormat,
  type LogLevel,
} from '@pushprox/shared';
import { PROXY_DEFAULTS, type ProxyConfig } from './config.js';
import { clusterFlags, resolveClusterConfig } from './cluster/options.js';
import { inheritedListeners } from './listeners/socket-activation.js';

export const PROXY_VERSION = readVersion(new URL('../../package.json', import.meta.url));

/** Parses argv into a frozen ProxyConfig, or exits 2 with a message naming the bad flag. */
export async function resolveProxyConfig(argv: readonly string[]): Promise<ProxyConfig> {
  const parser = clusterFlags(baseCli(argv, 'pushprox-proxy', PROXY_VERSION)
    .usage('$0 [flags]\n\nPushProx-compatible proxy: Prometheus scrapes through it, pushprox-clients poll it.')
    // Listed for --help only: main.ts hands `pki ...` to pki/cli.ts before this parser runs.
    .command('pki', 'Built-in certificate authority for mutual TLS: "pki init" creates it, "pki issue <fqdn>" signs a client certificate (see "pushprox-proxy pki --help").')
    .option('web.listen-address', {
      type: 'string',
      default: PROXY_DEFAULTS.listen,
      describe: 'Address to listen on for proxy and client requests.',
      coerce: listenAddressFlag('web.listen-address'),
    })
    .option('web.systemd-socket', {
      type: 'boolean',
      default: false,
      describe:
        'Listen on the sockets systemd passes (socket activation: LISTEN_FDS) instead of --web.listen-address and --web.client-listen-address: one socket for both, or two, the one named "client" (FileDescriptorName=) for clients. The sockets outlive restarts, so no connection is refused meanwhile.',
    })
    .option('web.config.file', {
      type: 'string',
      describe:
        'Path to a configuration file that enables TLS (tls_server_config) and basic authentication (basic_auth_users) in the Prometheus exporter-toolkit format. Basic auth guards scrapes (Proxy-Authorization), /clients and /metrics.',
    })
    .option('web.client-listen-address', {
      type: 'string',
      describe:
        'A second listener for clients only (/poll, /push, enrollment); the --web.listen-address one then serves only scrapes, /clients and /metrics. Default: one listener for both, as upstream.',
      coerce: (v: string | undefined) => (v === undefined || v === '' ? undefined : listenAddressFlag('web.client-listen-address')(v)),
    })
    .option('web.client-config.file', {
      type: 'string',
      describe:
        'TLS of the client listener (tls_server_config in exporter-toolkit format; basic_auth_users does not apply to clients). Default: the tls_server_config of --web.config.file.',
    })
    .option('web.enable-lifecycle', {
      type: 'boolean',
      default: false,
      describe: 'Enable reloading the configuration files over HTTP (POST or PUT /-/reload), as Prometheus. SIGHUP reloads them either way.',
    })
    .option('web.read-header-timeout', {
      type: 'string',
      default: PROXY_DEFAULTS.readHeaderTimeout,
      describe: 'A connection must send a complete request head within this (slow senders get 408 and are closed).',
      coerce: durationFlag('web.read-header-timeout'),
    })
    .option('web.read-idle-timeout', {
      type: 'string',
      default: PROXY_DEFAULTS.readIdleTimeout,
      describe: 'Longest silence while a request body (/push, /poll) is arriving; 0 disables. Waiting polls are never cut.',
      coerce: durationFlag('web.read-idle-timeout'),
    })
    .option('web.max-auth-failures', {
      type: 'string',
      default: String(PROXY_DEFAULTS.authMaxFailures),
      describe:
        'Failed authentication attempts (basic auth user/password pairs not tried before, enrollment tokens) one source address (IPv6: its /64) may make per minute; beyond that its requests get 429 with Retry-After, unchecked, until the minute ends. 0 disables the limit (e.g. behind a reverse proxy, where every request has its address).',
      coerce: coerceWith('web.max-auth-failures', (s) => {
        if (!/^\d+$/.test(s) || Number(s) > 1_000_000) throw new Error(`expected a whole number from 0 to 1000000, got ${JSON.stringify(s)}`);
        return Number(s);
      }),
    })
    .option('client.token-file', {
      type: 'string',
      describe:
        'File of bearer tokens that /poll and /push require (one per line, optionally followed by the FQDN patterns it may poll for, * within a label). Clients with a verified certificate need none.',
    })
    .option('scrape.max-timeout', {
      type: 'string',
      default: PROXY_DEFAULTS.scrapeMaxTimeout,
      describe: 'Any scrape with a timeout higher than this will have to be clamped to this.',
      coerce: durationFlag('scrape.max-timeout'),
    })
    .option('scrape.default-timeout', {
      type: 'string',
      default: PROXY_DEFAULTS.scrapeDefaultTimeout,
      describe: 'If a scrape lacks a timeout, use this value.',
      coerce: durationFlag('scrape.default-timeout'),
    })
    .option('registration.timeout', {
      type: 'string',
      default: PROXY_DEFAULTS.registrationTimeout,
      describe: 'After how long a registration expires (a client with a poll waiting never expires).',
      coerce: durationFlag('registration.timeout'),
    })
    .option('registration.grace', {
      type: 'string',
      default: PROXY_DEFAULTS.registrationGrace,
      describe:
        'For this long after start, a scrape for an FQDN not registered yet waits up to its deadline for a poll (as upstream always does), so clients coming back after a restart are not failed; after it, such scrapes fail at once. 0s: fail at once from the start.',
      coerce: durationFlag('registration.grace'),
    })
    .option('registration.max-clients', {
      type: 'number',
      default: PROXY_DEFAULTS.registrationMaxClients,
      describe:
        'Most FQDNs registered at once (waiting, or polled within --registration.timeout); a poll or channel for one more gets 503 until one expires. Registered clients are never refused.',
      coerce: positiveIntFlag('registration.max-clients', 10_000_000),
    })
    .option('poll.idle-timeout', {
      type: 'string',
      default: PROXY_DEFAULTS.pollIdleTimeout,
      describe:
        'Answer an idle poll of our clients with a no-work reply after this; 0 holds it until a scrape comes (an idle client costs nothing). Behind an HTTP load balancer, set it below its idle timeout (e.g. 50s). Upstream clients are never sent it.',
      coerce: durationFlag('poll.idle-timeout'),
    })
    .option('poll.max-per-fqdn', {
      type: 'number',
      default: PROXY_DEFAULTS.pollMaxPerFqdn,
      describe: 'Most polls that may wait at once for one FQDN; more expire the oldest (408).',
      coerce: positiveIntFlag('poll.max-per-fqdn', 1024),
    })
    .option('push.max-body-size', {
      type: 'string',
      default: PROXY_DEFAULTS.pushMaxBodySize,
      describe: 'Largest pushed scrape response (1024-based units: KB, MB, GB).',
      coerce: byteSizeFlag('push.max-body-size'),
    })
    .option('shutdown.timeout', {
      type: 'string',
      default: PROXY_DEFAULTS.shutdownTimeout,
      describe: 'On SIGTERM/SIGINT, how long to wait for scrapes that are being answered.',
      coerce: durationFlag('shutdown.timeout'),
    })
    .option('enroll.token-file', {
      type: 'string',
      describe:
        'Enables certificate enrollment (POST /enroll, GET /enroll/ca): file of bootstrap tokens, one per line: ' +
        '"<token> [uses=N] [expires=<RFC 3339>] [fqdn-pattern ...]" (token ≥ 16 characters; uses=1 is single-use; ' +
        'no pattern: any FQDN; * within a label; # comments). Renewal needs no token, only the client\'s certificate.',
    })
    .option('enroll.ca-dir', {
      type: 'string',
      describe: 'Directory of "pushprox-proxy pki init" whose ca.crt and ca.key sign enrolled clients (required with --enroll.token-file).',
    })
    .option('enroll.cert-validity', {
      type: 'string',
      default: PROXY_DEFAULTS.enrollCertValidity,
      describe: 'Lifetime of enrolled client certificates (capped at the CA\'s expiry).',
      coerce: durationFlag('enroll.cert-validity'),
    })
    .option('enroll.state-file', {
      type: 'string',
      describe: 'Where token use counts are kept across restarts (written 0600).',
      defaultDescription: '<enroll.ca-dir>/enroll-state.json',
    }));
  const a = (await parseOrExit(parser)) as Record<string, unknown>;
  const enrollTokenFile = (a['enroll.token-file'] as string | undefined) || undefined;
  const enrollCaDir = (a['enroll.ca-dir'] as string | undefined) || undefined;
  const config: ProxyConfig = {
    ...listenersOf(a['web.systemd-socket'] === true, a['web.listen-address'] as ListenAddress, a['web.client-listen-address'] as ListenAddress | undefined),
    webConfigFile: (a['web.config.file'] as string | undefined) || undefined,
    clientWebConfigFile: (a['web.client-config.file'] as string | undefined) || undefined,
    webEnableLifecycle: a['web.enable-lifecycle'] === true,
    readHeaderTimeoutMs: a['web.read-header-timeout'] as number,
    readIdleTimeoutMs: a['web.read-idle-timeout'] as number,
    authMaxFailures: a['web.max-auth-failures'] as number,
    clientTokenFile: (a['client.token-file'] as string | undefined) || undefined,
    scrapeMaxTimeoutMs: a['scrape.max-timeout'] as number,
    scrapeDefaultTimeoutMs: a['scrape.default-timeout'] as number,
    registrationTimeoutMs: a['registration.timeout'] as number,
    registrationGraceMs: a['registration.grace'] as number,
    pollIdleTimeoutMs: a['poll.idle-timeout'] as number,
    pollMaxPerFqdn: a['poll.max-per-fqdn'] as number,
    registrationMaxClients: a['registration.max-clients'] as number,
    pushMaxBodyBytes: a['push.max-body-size'] as number,
    shutdownTimeoutMs: a['shutdown.timeout'] as number,
    enroll:
      enrollTokenFile === undefined
        ? undefined
        : Object.freeze({
            tokenFile: enrollTokenFile,
            caDir: enrollCaDir ?? exitUsage('--enroll.token-file needs --enroll.ca-dir: the "pki init" directory whose CA signs'),
            certValidityMs: a['enroll.cert-validity'] as number,
            stateFile: (a['enroll.state-file'] as string | undefined) || undefined,
            maxFailures: a['web.max-auth-failures'] as number,
          }),
    cluster: clusterOrExit(a),
    logLevel: a['log.level'] as LogLevel,
    logFormat: a['log.format'] as LogFormat,
  };
  if (config.clientWebConfigFile !== undefined && config.clientListen === undefined) {
    exitUsage('--web.client-config.file needs --web.client-listen-address: it configures the client listener');
  }
  if (config.readIdleTimeoutMs < 0) exitUsage('invalid value for --web.read-idle-timeout: expected 0 or a positive duration');
  for (const k of ['scrapeMaxTimeoutMs', 'scrapeDefaultTimeoutMs', 'registrationTimeoutMs', 'readHeaderTimeoutMs'] as const) {
    if (config[k] <= 0) exitUsage(`invalid value for --${flagOf(k)}: expected a positive duration, got ${config[k]}ms`);
  }
  if (config.registrationGraceMs < 0) exitUsage('invalid value for --registration.grace: expected 0 or a positive duration');
  if (config.pollIdleTimeoutMs < 0) exitUsage('invalid value for --poll.idle-timeout: expected 0 or a positive duration');
  if (!config.enroll && (enrollCaDir !== undefined || a['enroll.state-file'])) {
    exitUsage('--enroll.ca-dir and --enroll.state-file need --enroll.token-file, which enables enrollment');
  }
  if (config.enroll && !(config.enroll.certValidityMs >= 1000)) {
    exitUsage(`invalid value for --enroll.cert-validity: expected at least 1s, got ${config.enroll.certValidityMs}ms`);
  }
  return Object.freeze(config);
}

/** The listeners: systemd's sockets with --web.systemd-socket (exits 2 if they are missing), else the flags' addresses. */
function listenersOf(systemd: boolean, listen: ListenAddress, clientListen: ListenAddress | undefined): Pick<ProxyConfig, 'listen' | 'clientListen'> {
  if (!systemd) return { listen, clientListen };
  try {
    const { main, client } = inheritedListeners(process.env, process.pid);
    return { listen: main, clientListen: client };
  } catch (err) {
    return exitUsage((err as Error).message);
  }
}

function flagOf(k: string): string {
  return {
    scrapeMaxTimeoutMs: 'scrape.max-timeout',
    scrapeDefaultTimeoutMs: 'scrape.default-timeout',
    registrationTimeoutMs: 'registration.timeout',
    readHeaderTimeoutMs: 'web.read-header-timeout',
  }[k]!;
}

function clusterOrExit(a: Record<string, unknown>): ProxyConfig['cluster'] {
  try {
    return resolveClusterConfig(a);
  } catch (err) {
    return exitUsage((err as Error).message);
  }
}

function exitUsage(msg: string): never {
  process.stderr.write(`error: ${msg}\nRun with --help for the list of flags.\n`);
  process.exit(2);
}
