import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { BINARIES } from './binaries.js';

/**
 * Debian's chromium, headless, through playwright-core (never its own
 * browser download). The flags keep it off the network: no QUIC, no
 * background fetches, updates or sync, which on a closed network only
 * stall; a fresh profile per launch, removed on close.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

export interface Browser {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Messages the page logged, and its uncaught errors. */
  readonly console: string[];
  close(): Promise<void>;
}

export async function launchChromium(opts: { width?: number; height?: number; httpCredentials?: { username: string; password: string } } = {}): Promise<Browser> {
  const profile = mkdtempSync(path.join(tmpdir(), 'pushprox-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: BINARIES.chromium,
      headless: true,
      args: [...CHROMIUM_ARGS],
      viewport: { width: opts.width ?? 1400, height: opts.height ?? 900 },
      timeout: 30_000,
      ...(opts.httpCredentials && { httpCredentials: opts.httpCredentials }),
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  const console: string[] = [];
  page.on('console', (m) => console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console.push(`pageerror: ${e.message}`));
  return {
    page,
    context,
    console,
    close: async () => {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
