export * from './headers.js';
export * from './types.js';
export * from './syntax.js';
export * from './parse.js';
export * from './stream.js';
export * from './serialize.js';
export { requestFraming, responseFraming } from './framing.js';
