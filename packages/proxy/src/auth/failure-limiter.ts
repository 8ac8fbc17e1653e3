// Moved to packages/shared/src/web/failure-limiter.ts: the client's listener (--web.listen-address) uses it too.
export * from '@pushprox/shared/web/failure-limiter';
