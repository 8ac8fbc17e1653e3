import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BINARIES } from './binaries.js';
import { startListening } from './listening-proc.js';
import { freePort } from './ports.js';
import type { Proc } from './procs.js';

export interface Squid {
  /** For HTTP_PROXY. */
  readonly url: string;
  readonly proc: Proc;
  /** Waits (bounded) until squid's access log has a line matching `re`, and returns the log. */
  waitForAccess(re: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Debian's squid as a forward proxy on 127.0.0.1: in the foreground (-N, no
 * SMP kids), no disk cache, so stopping it by its PID leaves nothing behind.
 * `extra` are more squid.conf lines, e.g. `http_upgrade_request_protocols`.
 * Squid started as root drops to its own user, so its directory is world-writable
 * (for the access log) and its access log is a file, not our stdout pipe.
 * It asks no DNS server: it knows the names in `hosts` (name → address) from
 * its own hosts file, and every other URL it forwards here names an IP address.
 */
export async function startSquid(extra: readonly string[] = [], hosts: Readonly<Record<string, string>> = {}): Promise<Squid> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pushprox-squid-'));
  chmodSync(dir, 0o777);
  const port = await freePort();
  const accessLog = path.join(dir, 'access.log');
  const conf = path.join(dir, 'squid.conf');
  const hostsFile = path.join(dir, 'hosts');
  writeFileSync(hostsFile, Object.entries(hosts).map(([name, ip]) => `${ip} ${name}\n`).join(''));
  writeFileSync(
    conf,
    [
      `http_port 127.0.0.1:${port}`,
      'http_access allow all',
      'cache deny all',
      'cache_mem 8 MB',
      `access_log stdio:${accessLog} squid`,
      'buffered_logs off',
      'dns_nameservers 127.0.0.1',
      `hosts_file ${hostsFile}`,
      'cache_log stdio:/dev/stderr',
      'cache_store_log none',
      'pid_filename none',
      `coredump_dir ${dir}`,
      'visible_hostname pushprox-e2e',
      'shutdown_lifetime 0 seconds',
      'max_filedescriptors 1024',
      ...extra,
      '',
    ].join('\n'),
  );
  const { proc, stop } = await startListening('squid', BINARIES.squid, ['-N', '-f', conf], { port, dir, stopSignal: 'SIGTERM' });
  return {
    url: `http://127.0.0.1:${port}`,
    proc,
    async waitForAccess(re, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        let log = '';
        try {
          log = readFileSync(accessLog, 'utf8');
        } catch {
          // Not written yet.
        }
        if (re.test(log)) return log;
        if (Date.now() > end) throw new Error(`squid's access log has no line matching ${re} after ${timeoutMs} ms:\n${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop,
  };
}
