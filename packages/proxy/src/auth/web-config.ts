// Moved to packages/shared/src/web/web-config.ts: the client's listener (--web.listen-address) uses it too.
export * from '@pushprox/shared/web/web-config';
