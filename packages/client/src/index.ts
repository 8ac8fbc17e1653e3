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
export { resolveFqdn, type FqdnOptions } from './fqdn.js';
export { ExponentialBackoff, sleep, type BackoffOptions } from './backoff.js';
export { ClientMetrics, startMetricsServer, type MetricsServer } from './metrics.js';
export {
  Poller,
  MIN_IDLE_CYCLE_MS,
  DEFAULT_POLL_HEADERS_TIMEOUT_MS,
  DEFAULT_POLL_BODY_TIMEOUT_MS,
  type PollerOptions,
  type PollMode,
} from './poller.js';
export { PollError, readPollReply, offersMultiPoll, DEFAULT_MAX_POLL_REPLY_BYTES, type PollReply } from './poll-reply.js';
export {
  applySchemeParam,
  scrapeTarget,
  parseScrapeTimeout,
  forwardedHeaders,
  FQDN_MISMATCH_MESSAGE,
  type ScrapeTarget,
} from './scrape.js';
export { errorPayload, responsePayload, sendPush, formatRemainingSeconds, PushError, type PushPayload } from './push.js';
export { ScrapeJob, FALLBACK_SCRAPE_TIMEOUT_MS, pushReserveMs, type ScrapeRequest, type JobDeps } from './job.js';
export { ScrapeScheduler } from './scheduler.js';
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
} from './scrape-policy.js';
export { createDispatcher, type CreateDispatcherOptions, type DispatcherChoice } from './dispatcher.js';
export { envProxies, NoProxy, parseProxyUrl, type EnvProxies } from './env-proxy.js';
export { ClientDispatchers, type ClientDispatchersOptions } from './client-dispatchers.js';
export { SwappableDispatcher, DEFAULT_RETIRE_GRACE_MS } from './swappable-dispatcher.js';
export { loadTlsFiles, hasTlsFiles, type TlsFiles, type TlsFlagPrefix } from './tls-files.js';
export { TokenFile } from './token-file.js';
export { AbortToken } from './abort-token.js';
export { startRenewal, type Renewal, type RenewalOptions, type RenewalTimers } from './enroll/renew.js';
export { parseFingerprint, formatFingerprint } from './enroll/fingerprint.js';
