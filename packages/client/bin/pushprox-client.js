#!/usr/bin/env node
// First, before any other module is even parsed: the client's V8 settings
// apply only while the young generation is still small (see v8-flags.ts).
// No top-level await: the release bundles this file as CommonJS.
import '../dist/src/v8-flags.js';

// Under npx / npm run, npm's shell may die on SIGTERM without passing it on: follow it (see npm-shell.ts).
Promise.all([import('@pushprox/shared'), import('../dist/src/main.js')]).then(
  ([{ followNpmParent }]) => followNpmParent(),
  (err) => {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
