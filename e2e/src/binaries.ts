import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';

/**
 * End-to-end tests need Debian's binaries. Without them a test is skipped
 * with the reason; with PUSHPROX_E2E_REQUIRED=1 (set by .ci/run) a missing
 * binary fails the test instead, so CI can never pass by skipping.
 */
export const BINARIES = {
  prometheus: '/usr/bin/prometheus',
  promtool: '/usr/bin/promtool',
  nodeExporter: '/usr/bin/prometheus-node-exporter',
  wget: '/usr/bin/wget',
  openssl: '/usr/bin/openssl',
  curl: '/usr/bin/curl',
  htpasswd: '/usr/bin/htpasswd',
  nginx: '/usr/sbin/nginx',
  squid: '/usr/sbin/squid',
  /** Debian's chromium, driven headless through playwright-core (e2e/src/browser.ts). */
  chromium: '/usr/bin/chromium',
  natsServer: '/usr/sbin/nats-server',
  /** nginx's TCP load balancing (Debian's libnginx-mod-stream). */
  nginxStream: '/usr/lib/nginx/modules/ngx_stream_module.so',
  /** Holds a listening socket and passes it on, as systemd's socket units do (package systemd). */
  systemdSocketActivate: '/usr/bin/systemd-socket-activate',
  /** Only for the bench's C floor of (v); no test needs it. */
  socat: '/usr/bin/socat',
} as const;

export function missing(...names: Array<keyof typeof BINARIES>): string[] {
  return names.filter((n) => !existsSync(BINARIES[n])).map((n) => BINARIES[n]);
}

/** Returns true if the test may run; otherwise skips it, or fails it on CI. */
export function requireBinaries(t: TestContext, ...names: Array<keyof typeof BINARIES>): boolean {
  const absent = missing(...names);
  if (absent.length === 0) return true;
  const why = `needs ${absent.join(', ')} (apt-get install -y prometheus prometheus-node-exporter wget openssl curl apache2-utils nginx libnginx-mod-stream squid nats-server chromium systemd)`;
  if (process.env['PUSHPROX_E2E_REQUIRED'] === '1') throw new Error(`PUSHPROX_E2E_REQUIRED=1 but this test ${why}`);
  t.skip(why);
  return false;
}
