export { startProxy, type RunningProxy } from './server.js';
export { resolveProxyConfig, PROXY_VERSION } from './cli.js';
export { PROXY_DEFAULTS, type ProxyConfig } from './config.js';
export { Coordinator, type PollSink, type ScrapeSink, type ScrapeJob } from './coordinator.js';
export { systemClock, type Clock } from './clock.js';
export { scrapeTimeoutMs, canonicalHeaderName, buildScrapeRequest } from './forward.js';
export { parseFqdn } from './fqdn.js';
