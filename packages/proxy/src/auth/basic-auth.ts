// Moved to packages/shared/src/web/basic-auth.ts: the client's listener (--web.listen-address) uses it too.
export * from '@pushprox/shared/web/basic-auth';
