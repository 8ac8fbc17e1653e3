export { startClient, type RunningClient, type StartClientOptions } from './client.js';
export {
  resolveConfig,
  normaliseProxyUrl,
  loadTlsMaterial,
  type ClientConfig,
  type ResolveConfigDeps,
  type TlsMaterial,
} from './config.js';
export { clientCli, parseClientArgs, DEFAULT_SCRAPE_CONCURRENCY, MAX_SCRAPE_CONCURRENCY, type ClientArgs } from './cli.js';
export { resolveFqdn, type FqdnOptions } from './scraping/fqdn.js';
export { DEFAULT_FAST_RETRY_PERIOD_MS, ExponentialBackoff, FAST_RETRY_INITIAL_MS, FAST_RETRY_MAX_MS, sleep, type BackoffOptions } from './transport/backoff.js';
export { ClientMetrics, startMetricsServer, type MetricsServer } from './metrics.js';
export {
  Poller,
  MIN_IDLE_CYCLE_MS,
  DEFAULT_POLL_HEADERS_TIMEOUT_MS,
  DEFAULT_POLL_BODY_TIMEOUT_MS,
  type PollerOptions,
  type PollMode,
} from './transport/poller.js';
export { PollError, readPollReply, offersMultiPoll, DEFAULT_MAX_POLL_REPLY_BYTES, type PollReply } from './transport/poll-reply.js';
export {
  applySchemeParam,
  scrapeTarget,
  parseScrapeTimeout,
  forwardedHeaders,
  FQDN_MISMATCH_MESSAGE,
  type ScrapeTarget,
} from './scraping/scrape.js';
export { errorPayload, responsePayload, sendPush, formatRemainingSeconds, PushError, type PushPayload } from './transport/push.js';
export { ScrapeJob, FALLBACK_SCRAPE_TIMEOUT_MS, pushReserveMs, type JobDeps } from './scraping/job.js';
export type { ScrapeRequest } from './transport/scrape-request.js';
export { ScrapeScheduler } from './scraping/scheduler.js';
export {
  checkTarget,
  localTarget,
  parseAllowList,
  parseMethods,
  parsePortList,
  scrapePolicy,
  DEFAULT_SCRAPE_METHODS,
  DEFAULT_SCRAPE_POLICY,
  REFUSAL_REASONS,
  USE_LOCALHOST_NEEDS_ALLOW_PORT,
  type Refusal,
  type RefusalReason,
  type ScrapePattern,
  type ScrapePolicy,
} from './scraping/scrape-policy.js';
export { createDispatcher, type CreateDispatcherOptions, type DispatcherChoice } from './http/routing-dispatcher.js';
export { envProxies, NoProxy, parseProxyUrl, type EnvProxies } from './http/env-proxy.js';
export { ClientDispatchers, type ClientDispatchersOptions } from './http/reloadable-dispatchers.js';
export { SwappableDispatcher, DEFAULT_RETIRE_GRACE_MS } from './http/swappable-dispatcher.js';
export { loadTlsFiles, hasTlsFiles, type TlsFiles, type TlsFlagPrefix } from './http/tls-files.js';
export { TokenFile } from './http/token-file.js';
export { AbortToken } from './scraping/abort-token.js';
export { startRenewal, type Renewal, type RenewalOptions, type RenewalTimers } from './enroll/renew.js';
export { parseFingerprint, formatFingerprint } from './enroll/fingerprint.js';
export { ModuleHost, type ModuleHostDeps, type ModuleAsk } from './modules/host.js';
export { loadModuleSet, type ModuleSources } from './modules/load.js';
export { moduleMeta, type ModuleConfig, type ModuleSet, type ModuleResponse } from './modules/types.js';
export { matchModuleRoute, onVirtualHost, type ModuleRoute } from './modules/route.js';
