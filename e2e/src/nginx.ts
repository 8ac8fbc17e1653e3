import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BINARIES } from './binaries.js';
import { startListening } from './listening-proc.js';
import { freePort } from './ports.js';
import type { Proc } from './procs.js';

export interface Nginx {
  readonly url: string;
  readonly proc: Proc;
  stop(): Promise<void>;
}

/**
 * Debian's nginx as a reverse proxy on 127.0.0.1, in the foreground as one
 * process (no master, no workers), so stopping it by its PID leaves nothing
 * behind. `locations` is the body of the server block: the operator's
 * proxy_pass set-up under test, naming the upstream itself.
 */
export async function startNginx(locations: string): Promise<Nginx> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pushprox-nginx-'));
  const port = await freePort();
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${path.join(dir, t)};`).join('\n');
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
master_process off;
pid ${path.join(dir, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 256; }
http {
  access_log off;
${temp}
  server {
    listen 127.0.0.1:${port};
${locations}
  }
}
`,
  );
  const { proc, stop } = await startListening('nginx', BINARIES.nginx, ['-p', dir, '-c', conf], { port, dir, stopSignal: 'SIGQUIT' });
  return { url: `http://127.0.0.1:${port}`, proc, stop };
}

/**
 * nginx as a plain TCP load balancer (the stream module) in front of
 * `backends` (host:port), round robin, connections held for up to 10 min
 * (polls and channels are long): what sits in front of a cluster of proxies.
 */
export async function startNginxTcp(backends: readonly string[]): Promise<Nginx> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pushprox-nginx-tcp-'));
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `load_module ${BINARIES.nginxStream};
daemon off;
master_process off;
pid ${path.join(dir, 'nginx.pid')};
error_log stderr error;
events { worker_connections 1024; }
stream {
  upstream proxies {
${backends.map((b) => `    server ${b} max_fails=1 fail_timeout=10s;`).join('\n')}
  }
  server {
    listen 127.0.0.1:${port};
    proxy_pass proxies;
    proxy_connect_timeout 1s;
    proxy_timeout 10m;
  }
}
`,
  );
  const { proc, stop } = await startListening('nginx', BINARIES.nginx, ['-p', dir, '-c', conf], { port, dir, stopSignal: 'SIGQUIT' });
  return { url: `http://127.0.0.1:${port}`, proc, stop };
}
