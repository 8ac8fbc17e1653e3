export * from './fixtures.js';
export * from './random.js';
