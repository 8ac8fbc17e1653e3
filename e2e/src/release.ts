import assert from 'node:assert/strict';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { scrapeVia } from './http.js';
import { waitRegistered } from './proxy-api.js';
import { Proc } from './procs.js';
import { run, type Ran } from './run.js';

/**
 * Helpers for the release test: programs started with an environment of
 * their own (`env -i`, a PATH with nothing in it), so a program that needed
 * node, or anything else on PATH, fails instead of passing by luck.
 */

/** The only PATH the release's executables get: Debian's never-existing directory (the home of system users). */
export const EMPTY_PATH_DIR = '/nonexistent';

/** `env -i PATH=<dir>`: the programs see no variable of this process. */
export function bareEnv(pathDirs: readonly string[] = [EMPTY_PATH_DIR]): string[] {
  return ['/usr/bin/env', '-i', `PATH=${pathDirs.join(':')}`];
}

/** Runs `file args` in a bare environment (see bareEnv), within `timeoutMs` (default 30 s). */
export function runBare(file: string, args: readonly string[], opts: { pathDirs?: readonly string[]; timeoutMs?: number; cwd?: string } = {}): Promise<Ran> {
  const [env, ...envArgs] = bareEnv(opts.pathDirs);
  return run(env!, [...envArgs, file, ...args], { timeoutMs: opts.timeoutMs ?? 30_000, ...(opts.cwd && { cwd: opts.cwd }) });
}

/** The tools' paths; a missing one skips the test with the reason, or fails it when PUSHPROX_E2E_REQUIRED=1. */
export function requireTools(t: TestContext, tools: Readonly<Record<string, string>>): boolean {
  const absent = Object.entries(tools).filter(([file]) => {
    try {
      accessSync(file, constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (absent.length === 0) return true;
  const why = `needs ${absent.map(([f]) => f).join(', ')} (apt-get install -y ${[...new Set(absent.map(([, pkg]) => pkg))].join(' ')})`;
  if (process.env['PUSHPROX_E2E_REQUIRED'] === '1') throw new Error(`PUSHPROX_E2E_REQUIRED=1 but this test ${why}`);
  t.skip(why);
  return false;
}

export type ReleaseProxy = Proc & { readonly port: number; readonly url: string };

/** Starts a proxy program in a bare environment on 127.0.0.1 (any port) and waits until it listens. */
export async function startBareProxy(file: string, args: readonly string[] = [], pathDirs?: readonly string[]): Promise<ReleaseProxy> {
  const p = new Proc(`${path.basename(file)} (release)`, file, ['--web.listen-address=127.0.0.1:0', ...args], { wrapper: bareEnv(pathDirs) });
  const m = await p.waitFor(/msg=Listening address=(127\.0\.0\.1):(\d+)/, 20_000);
  const port = Number(m[2]);
  return Object.assign(p, { port, url: `http://${m[1]}:${port}` });
}

/** Starts a client program in a bare environment, registered as 127.0.0.1, without its own metrics listener. */
export function startBareClient(file: string, proxyUrl: string, args: readonly string[] = [], pathDirs?: readonly string[]): Proc {
  return new Proc(`${path.basename(file)} (release)`, file, [`--proxy-url=${proxyUrl}`, '--fqdn=127.0.0.1', '--metrics-addr=', ...args], {
    wrapper: bareEnv(pathDirs),
  });
}

/**
 * Scrapes `target` through the pair once the client has registered, and
 * returns the body; asserts a 200. `headers` go to the proxy (basic auth).
 */
export async function scrapeThroughPair(proxy: ReleaseProxy, client: Proc, target: string, headers: Record<string, string> = {}): Promise<string> {
  await waitRegistered(proxy.url, '127.0.0.1', { client, headers, timeoutMs: 20_000 });
  const r = await scrapeVia(proxy.port, target, { timeoutSecs: 10, timeoutMs: 15_000, headers });
  assert.equal(r.status, 200, `scrape through ${proxy.name}: ${r.body.toString()}\n${proxy.output}\n${client.output}`);
  return r.body.toString();
}
