/**
 * Throw-away certificates made by the openssl CLI (EC P-256, fast), an https
 * exporter that records the client certificate it was shown, and real flag
 * parsing into a ClientConfig.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { clientCli, resolveConfig, type ClientArgs, type ClientConfig } from '../src/index.js';
import { closeServer, FQDN, listen, type Exporter } from './helpers.js';

export const OPENSSL = '/usr/bin/openssl';

/** A directory of PEM files; `remove()` deletes it. */
export class Pki {
  readonly dir: string;

  constructor() {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'pushprox-client-tls-'));
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  read(name: string): Buffer {
    return readFileSync(this.file(name));
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  #openssl(...args: string[]): void {
    execFileSync(OPENSSL, args, { stdio: 'ignore', timeout: 30_000 });
  }

  #newKey(name: string): void {
    this.#openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', this.file(`${name}.key`));
  }

  /** `<name>.crt` / `<name>.key`: a CA. */
  ca(name: string): this {
    this.#newKey(name);
    this.#openssl('req', '-x509', '-new', '-key', this.file(`${name}.key`), '-days', '1', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', this.file(`${name}.crt`));
    return this;
  }

  /**
   * `<name>.crt` / `<name>.key` with CN `name`, signed by CA `ca`, or
   * self-signed when `ca` is undefined. 'server': SAN IP 127.0.0.1 for
   * serverAuth; 'client': clientAuth.
   */
  leaf(name: string, ca: string | undefined, usage: 'server' | 'client'): this {
    this.#newKey(name);
    const ext = usage === 'server' ? 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth' : `extendedKeyUsage=clientAuth`;
    writeFileSync(this.file(`${name}.ext`), `${ext}\n`);
    if (ca === undefined) {
      this.#openssl('req', '-x509', '-new', '-key', this.file(`${name}.key`), '-days', '1', '-subj', `/CN=${name}`,
        '-addext', ext.split('\n')[0]!, '-out', this.file(`${name}.crt`));
      return this;
    }
    this.#openssl('req', '-new', '-key', this.file(`${name}.key`), '-subj', `/CN=${name}`, '-out', this.file(`${name}.csr`));
    this.#openssl('x509', '-req', '-in', this.file(`${name}.csr`), '-CA', this.file(`${ca}.crt`), '-CAkey', this.file(`${ca}.key`),
      '-CAcreateserial', '-days', '1', '-out', this.file(`${name}.crt`), '-extfile', this.file(`${name}.ext`));
    return this;
  }

  /** https.ServerOptions serving leaf `name`. */
  serverTls(name: string, extra: https.ServerOptions = {}): https.ServerOptions {
    return { cert: this.read(`${name}.crt`), key: this.read(`${name}.key`), ...extra };
  }
}

export interface HttpsExporter extends Exporter {
  /** CN of the client certificate each request came with (undefined: none). */
  readonly clientCNs: Array<string | undefined>;
}

/** An https exporter that asks for (but does not require) a client certificate. */
export async function startHttpsExporter(
  tls: https.ServerOptions,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<HttpsExporter> {
  const requests: Exporter['requests'] = [];
  const clientCNs: Array<string | undefined> = [];
  const server = https.createServer({ requestCert: true, rejectUnauthorized: false, ...tls }, (req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
    const cn = (req.socket as TLSSocket).getPeerCertificate().subject?.CN;
    clientCNs.push(typeof cn === 'string' ? cn : undefined);
    handler(req, res);
  }) as unknown as http.Server;
  const port = await listen(server);
  return { server, port, requests, clientCNs, close: () => closeServer(server) };
}

/**
 * A ClientConfig from real command-line flags (clientCli + resolveConfig),
 * with test-friendly retry waits and no metrics server.
 */
export async function configFromFlags(proxyUrl: string, flags: readonly string[]): Promise<ClientConfig> {
  const argv = [`--proxy-url=${proxyUrl}`, `--fqdn=${FQDN}`, '--metrics-addr=', '--proxy.retry.initial-wait=20ms', '--proxy.retry.max-wait=60ms', ...flags];
  const args = (await clientCli(argv, '0.0.0-test').exitProcess(false).parseAsync()) as unknown as ClientArgs;
  return resolveConfig(args);
}
