// Moved to packages/shared/src/web/bcrypt-pool.ts: the client's listener (--web.listen-address) uses it too.
export * from '@pushprox/shared/web/bcrypt-pool';
