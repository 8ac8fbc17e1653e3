#!/usr/bin/env node
// Under npx / npm run, npm's shell may die on SIGTERM without passing it on: follow it (see npm-shell.ts).
import { followNpmParent } from '@pushprox/shared';
import '../dist/src/main.js';

followNpmParent();
