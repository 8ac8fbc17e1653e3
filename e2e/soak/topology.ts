import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { BINARIES } from '../src/binaries.js';
import { makePki } from '../src/pki.js';
import { freePort, waitListening } from '../src/ports.js';
import { CLIENT_BIN, PROXY_BIN } from '../src/procs.js';
import { registeredClients } from '../src/proxy-api.js';
import { SoakChild, type ExitRecord } from './child.js';
import { sleep } from './tally.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** --push.max-body-size of both proxies; the soak's large scrapes stay below it, its oversized ones above. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;
export const USER = 'prometheus';
export const PASSWORD = 'soak-Pa55word';
/** Clients per (proxy, transport). */
const CLIENTS_EACH = 2;

export interface ProxyEnd {
  readonly name: 'plain' | 'tls';
  readonly port: number;
  readonly child: SoakChild;
  /** With TLS: the CA its certificate is from. */
  readonly ca: Buffer | undefined;
  /** Proxy-Authorization (scrapes) and Authorization (/clients) value, when it has basic_auth_users. */
  readonly basic: string | undefined;
  /** `http(s)://127.0.0.1:<port>` */
  readonly url: string;
}

export interface ClientEnd {
  readonly fqdn: string;
  readonly proxy: ProxyEnd;
  readonly transport: 'channel' | 'polling';
  readonly child: SoakChild;
}

export interface Topology {
  readonly dir: string;
  readonly proxies: readonly ProxyEnd[];
  readonly clients: readonly ClientEnd[];
  /** The e2e exporter (/metrics and /big). */
  readonly exporterPort: number;
  /** Debian's node_exporter; undefined when not installed. */
  readonly nodeExporterPort: number | undefined;
  readonly children: readonly SoakChild[];
}

/**
 * Starts everything on 127.0.0.1: a plain-HTTP proxy (upstream's defaults:
 * no auth) and a TLS proxy with basic auth (bcrypt cost 10, as the README's
 * setup), the e2e exporter and node_exporter, and CLIENTS_EACH clients per
 * proxy and transport. Clients run --use-localhost, so their made-up FQDNs
 * all scrape the exporters on 127.0.0.1. Children started so far are in
 * `started` even when a later step throws, so the caller can stop them.
 */
export async function startTopology(onExit: (r: ExitRecord) => void, t0: number, started: SoakChild[]): Promise<Topology> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pushprox-soak-'));
  const pki = await makePki(path.join(dir, 'pki'), [], ['127.0.0.1', 'localhost']);
  const web = path.join(dir, 'web.yml');
  writeFileSync(
    web,
    `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.serverKey}\n` +
      `basic_auth_users:\n  ${USER}: '${bcrypt.hashSync(PASSWORD, 10)}'\n`,
  );
  const child = (name: string, argv: readonly string[]): SoakChild => {
    const c = new SoakChild(name, argv, onExit, t0);
    started.push(c);
    return c;
  };
  const listening = async (c: SoakChild, port: number): Promise<void> => {
    try {
      await waitListening('127.0.0.1', port, 20_000);
    } catch (err) {
      throw new Error(`${c.name}: expected it to listen on 127.0.0.1:${port}: ${(err as Error).message}\n${c.output()}`);
    }
  };

  const exporterPort = await freePort();
  const exporter = child('e2e exporter', [process.execPath, path.join(HERE, 'exporter-main.js'), `--port=${exporterPort}`]);
  await listening(exporter, exporterPort);
  let nodeExporterPort: number | undefined;
  if (existsSync(BINARIES.nodeExporter)) {
    nodeExporterPort = await freePort();
    const ne = child('node_exporter', [BINARIES.nodeExporter, `--web.listen-address=127.0.0.1:${nodeExporterPort}`, '--log.level=warn']);
    await listening(ne, nodeExporterPort);
  }

  const proxies: ProxyEnd[] = [];
  for (const name of ['plain', 'tls'] as const) {
    const port = await freePort();
    const tls = name === 'tls';
    const c = child(`proxy ${name}`, [
      process.execPath,
      PROXY_BIN,
      `--web.listen-address=127.0.0.1:${port}`,
      `--push.max-body-size=${MAX_BODY_BYTES / 1024 / 1024}MB`,
      ...(tls ? [`--web.config.file=${web}`] : []),
    ]);
    await listening(c, port);
    proxies.push({
      name,
      port,
      child: c,
      ca: tls ? readFileSync(pki.ca) : undefined,
      basic: tls ? `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` : undefined,
      url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    });
  }

  const ports = [exporterPort, ...(nodeExporterPort ? [nodeExporterPort] : [])].join(',');
  const clients: ClientEnd[] = [];
  for (const proxy of proxies) {
    for (const transport of ['channel', 'polling'] as const) {
      for (let i = 0; i < CLIENTS_EACH; i++) {
        const fqdn = `soak-${proxy.name}-${transport}-${i}.soak.test`;
        const c = child(`client ${fqdn}`, [
          process.execPath,
          CLIENT_BIN,
          `--proxy-url=${proxy.url}`,
          `--fqdn=${fqdn}`,
          '--metrics-addr=',
          '--use-localhost',
          `--allow-port=${ports}`,
          ...(transport === 'polling' ? ['--no-proxy.channel'] : []),
          ...(proxy.ca ? [`--tls.cacert=${pki.ca}`] : []),
        ]);
        clients.push({ fqdn, proxy, transport, child: c });
      }
    }
  }
  for (const proxy of proxies) await waitAllRegistered(proxy, clients.filter((c) => c.proxy === proxy));
  return { dir, proxies, clients, exporterPort, nodeExporterPort, children: [...started] };
}

/** Waits (at most 30 s) until every client of `proxy` is in its /clients. */
async function waitAllRegistered(proxy: ProxyEnd, clients: readonly ClientEnd[]): Promise<void> {
  const end = Date.now() + 30_000;
  const never = new AbortController().signal;
  let have = new Set<string>();
  while (Date.now() < end) {
    try {
      have = new Set(await registeredClients(proxy.url, { ca: proxy.ca, headers: proxy.basic ? { Authorization: proxy.basic } : undefined }));
    } catch {
      // restarting or not up yet; retried until the deadline
    }
    if (clients.every((c) => have.has(c.fqdn))) return;
    await sleep(200, never);
  }
  const missing = clients.filter((c) => !have.has(c.fqdn));
  throw new Error(
    `expected ${clients.length} clients registered on the ${proxy.name} proxy within 30 s, missing ${missing.map((c) => c.fqdn).join(', ')}:\n` +
      missing.map((c) => `--- ${c.child.name}\n${c.child.output()}`).join('\n'),
  );
}
