export * from './fixtures.js';
export * from './random.js';
export * from './resettable-tls.js';
export * from './procs.js';
