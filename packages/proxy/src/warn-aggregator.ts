// Moved to packages/shared/src/web/warn-aggregator.ts: the client's listener (--web.listen-address) uses it too.
export * from '@pushprox/shared/web/warn-aggregator';
