import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { bareEnv, type Runner } from './release.js';
import { run, type Ran } from './run.js';

/**
 * The release's executables for other platforms, run on this linux-x64
 * machine: linux-arm64 under Debian's qemu-user-static (with the arm64
 * libraries of libc6-arm64-cross and libstdc++6-arm64-cross as the root),
 * windows-x64 under wine64. Both only emulate: they prove the executable
 * starts and speaks, not how fast it is on the real hardware.
 */

/** The arm64 library root that qemu-user loads the executables' libraries from. */
export const ARM64_ROOT = '/usr/aarch64-linux-gnu';

/** What the arm64 runs need, with the Debian package that brings each (a file to exist, not to execute). */
export const QEMU_TOOLS: Readonly<Record<string, string>> = Object.freeze({
  '/usr/bin/qemu-aarch64-static': 'qemu-user-static',
  [`${ARM64_ROOT}/lib/ld-linux-aarch64.so.1`]: 'libc6-arm64-cross',
  [`${ARM64_ROOT}/lib/libstdc++.so.6`]: 'libstdc++6-arm64-cross',
});

/**
 * qemu-user translates every instruction: the programs start in seconds
 * instead of a fraction of one, so every wait is 6 times as long.
 */
export const QEMU_ARM64: Runner = Object.freeze({
  argv: ['/usr/bin/qemu-aarch64-static', '-L', ARM64_ROOT],
  env: [],
  slowdown: 6,
});

/**
 * wine64's loader. Debian's `wine64` package installs it here; the `wine`
 * package adds the /usr/bin/wine launcher, which these tests do not need.
 */
export const WINE64 = '/usr/lib/wine/wine64';
export const WINE_TOOLS: Readonly<Record<string, string>> = Object.freeze({ [WINE64]: 'wine64' });

/**
 * A runner with a private wine prefix under `dir` (never the user's ~/.wine).
 * WINEDEBUG=-all keeps wine's own diagnostics out of the programs' stderr.
 */
export function wineRunner(dir: string): Runner & { readonly prefix: string } {
  const prefix = path.join(dir, 'wineprefix');
  return Object.freeze({ argv: [WINE64], env: [`WINEPREFIX=${prefix}`, 'WINEDEBUG=-all', `HOME=${dir}`], slowdown: 4, prefix });
}

/**
 * Creates the wine prefix and makes it report Windows 10: a new prefix
 * reports Windows 7, which Node 20 refuses to start on ("Node.js is only
 * supported on Windows 8.1, Windows Server 2012 R2, or higher"). The first
 * start of wine builds the prefix and takes tens of seconds.
 */
export async function initWinePrefix(runner: Runner & { readonly prefix: string }): Promise<Ran> {
  mkdirSync(runner.prefix, { recursive: true });
  return run('/usr/bin/env', ['-i', 'PATH=/usr/bin:/bin', ...runner.env, WINE64, 'winecfg', '/v', 'win10'], { timeoutMs: 180_000 });
}

/** Ends the wineserver of the private prefix and the wine processes it serves (all started by the test). */
export async function stopWine(runner: Runner & { readonly prefix: string }): Promise<void> {
  await run('/usr/bin/env', ['-i', 'PATH=/usr/bin:/bin', ...runner.env, '/usr/lib/wine/wineserver64', '-k'], { timeoutMs: 30_000 }).catch(() => undefined);
}

/**
 * Runs `exe args` under wine in a bare environment with stdout and stderr
 * going to files under the prefix's directory: given a pipe, Node under wine
 * 8 fails on its first use of process.stdout ("Error: open EBADF" in
 * createWritableStdioStream), because wine does not present a Unix pipe as a
 * Windows pipe handle. A file works, and a Windows console is what the
 * client runs in on Windows.
 */
export async function runUnderWine(runner: Runner & { readonly prefix: string }, exe: string, args: readonly string[], timeoutMs = 60_000): Promise<Ran> {
  const out = path.join(runner.prefix, '..', 'wine-stdout');
  const err = path.join(runner.prefix, '..', 'wine-stderr');
  const r = await run('/bin/sh', ['-c', `"$@" >'${out}' 2>'${err}'`, 'sh', ...bareEnv(undefined, runner), exe, ...args], { timeoutMs });
  return { code: r.code, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8') + r.stderr };
}
