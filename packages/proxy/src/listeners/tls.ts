// Moved to packages/shared/src/web/tls-server.ts: the client's listener (--web.listen-address) uses it too.
export * from '@pushprox/shared/web/tls-server';
