export { startProxy, type RunningProxy } from './listeners/server.js';
export { resolveProxyConfig, PROXY_VERSION } from './cli.js';
export { PROXY_DEFAULTS, type ProxyConfig } from './config.js';
export { Coordinator, type PollSink, type ScrapeSink, type ScrapeJob } from './routing/coordinator.js';
export { systemClock, type Clock } from './routing/clock.js';
export { scrapeTimeoutMs, canonicalHeaderName, buildScrapeRequest } from './exchanges/forward.js';
export { parseFqdn } from './exchanges/fqdn.js';
export { FleetHistory } from './status/history.js';
export { ClientHistory, HISTORY_LENGTH, MAX_REASON_CHARS } from './status/client-history.js';
