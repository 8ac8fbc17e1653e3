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

/**
 * How an executable of another platform runs on this linux-x64 machine: under
 * an emulator (`argv` before the executable) that needs `env` (NAME=value)
 * besides the bare PATH, and is `slowdown` times slower to start and answer
 * (timeouts are multiplied by it). See cross.ts.
 */
export interface Runner {
  readonly argv: readonly string[];
  readonly env: readonly string[];
  readonly slowdown: number;
}

/** Runs the executable itself. */
export const NATIVE: Runner = Object.freeze({ argv: [], env: [], slowdown: 1 });

/** `env -i PATH=<dir>`: the programs see no variable of this process (but the runner's). */
export function bareEnv(pathDirs: readonly string[] = [EMPTY_PATH_DIR], runner: Runner = NATIVE): string[] {
  return ['/usr/bin/env', '-i', `PATH=${pathDirs.join(':')}`, ...runner.env, ...runner.argv];
}

/** Runs `file args` in a bare environment (see bareEnv), within `timeoutMs` (default 30 s, times the runner's slowdown). */
export function runBare(
  file: string,
  args: readonly string[],
  opts: { pathDirs?: readonly string[]; timeoutMs?: number; cwd?: string; runner?: Runner } = {},
): Promise<Ran> {
  const runner = opts.runner ?? NATIVE;
  const [env, ...envArgs] = bareEnv(opts.pathDirs, runner);
  return run(env!, [...envArgs, file, ...args], { timeoutMs: (opts.timeoutMs ?? 30_000) * runner.slowdown, ...(opts.cwd && { cwd: opts.cwd }) });
}

/** The tools' paths (executable, or with `mode` F_OK only present); a missing one skips the test with the reason, or fails it when PUSHPROX_E2E_REQUIRED=1. */
export function requireTools(t: TestContext, tools: Readonly<Record<string, string>>, mode: number = constants.X_OK): boolean {
  const absent = Object.entries(tools).filter(([file]) => {
    try {
      accessSync(file, mode);
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

export type ReleaseProxy = Proc & { readonly port: number; readonly url: string; readonly runner: Runner };

/** Starts a proxy program in a bare environment on 127.0.0.1 (any port) and waits until it listens. */
export async function startBareProxy(file: string, args: readonly string[] = [], pathDirs?: readonly string[], runner: Runner = NATIVE): Promise<ReleaseProxy> {
  const p = new Proc(`${path.basename(file)} (release)`, file, ['--web.listen-address=127.0.0.1:0', ...args], { wrapper: bareEnv(pathDirs, runner) });
  const m = await p.waitFor(/msg=Listening address=(127\.0\.0\.1):(\d+)/, 20_000 * runner.slowdown);
  const port = Number(m[2]);
  return Object.assign(p, { port, url: `http://${m[1]}:${port}`, runner });
}

/** Starts a client program in a bare environment, registered as 127.0.0.1, without its own metrics listener. */
export function startBareClient(file: string, proxyUrl: string, args: readonly string[] = [], pathDirs?: readonly string[], runner: Runner = NATIVE): Proc & { readonly runner: Runner } {
  const p = new Proc(`${path.basename(file)} (release)`, file, [`--proxy-url=${proxyUrl}`, '--fqdn=127.0.0.1', '--metrics-addr=', ...args], {
    wrapper: bareEnv(pathDirs, runner),
  });
  return Object.assign(p, { runner });
}

/**
 * Scrapes `target` through the pair once the client has registered, and
 * returns the body; asserts a 200. `headers` go to the proxy (basic auth).
 */
export async function scrapeThroughPair(
  proxy: ReleaseProxy,
  client: Proc & { readonly runner?: Runner },
  target: string,
  headers: Record<string, string> = {},
): Promise<string> {
  const slowdown = Math.max(proxy.runner.slowdown, client.runner?.slowdown ?? 1);
  await waitRegistered(proxy.url, '127.0.0.1', { client, headers, timeoutMs: 20_000 * slowdown });
  const r = await scrapeVia(proxy.port, target, { timeoutSecs: 10 * slowdown, timeoutMs: 15_000 * slowdown, headers });
  assert.equal(r.status, 200, `scrape through ${proxy.name}: ${r.body.toString()}\n${proxy.output}\n${client.output}`);
  return r.body.toString();
}
