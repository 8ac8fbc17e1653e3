/**
 * What a listener of either program needs to be guarded like the proxy's:
 * the exporter-toolkit web config file (TLS, basic auth), the TLS server with
 * its client_auth_type semantics, bcrypt basic auth in a worker with a
 * per-source failure limit, and aggregated warnings. A separate entry point
 * (`@pushprox/shared/web`), so a program without a listener loads none of it.
 */
export * from './web-config.js';
export * from './tls-server.js';
export * from './basic-auth.js';
export * from './bcrypt-pool.js';
export * from './failure-limiter.js';
export * from './warn-aggregator.js';
export * from './respond-text.js';
