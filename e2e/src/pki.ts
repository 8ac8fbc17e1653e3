import path from 'node:path';
import { PROXY_BIN } from './procs.js';
import { run } from './run.js';

/** A CA made by `pushprox-proxy pki`, as its files lie in `dir`. */
export interface Pki {
  readonly dir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** clients/<fqdn>.crt and .key, as `pki issue` writes them. */
  client(fqdn: string): { cert: string; key: string };
}

async function pkiCommand(args: readonly string[]): Promise<void> {
  const r = await run(process.execPath, [PROXY_BIN, 'pki', ...args]);
  if (r.code !== 0) throw new Error(`pushprox-proxy pki ${args.join(' ')} exited ${r.code}:\n${r.stdout}${r.stderr}`);
}

/**
 * A CA from `pki init` in `dir`, its server certificate for `serverNames`
 * (default 127.0.0.1 and localhost), and client certificates for `fqdns`.
 */
export async function makePki(dir: string, fqdns: readonly string[], serverNames: readonly string[] = ['127.0.0.1', 'localhost']): Promise<Pki> {
  await pkiCommand(['init', `--pki.dir=${dir}`, `--pki.san=${serverNames.join(',')}`]);
  for (const f of fqdns) await pkiCommand(['issue', `--pki.dir=${dir}`, f]);
  return {
    dir,
    ca: path.join(dir, 'ca.crt'),
    serverCert: path.join(dir, 'server.crt'),
    serverKey: path.join(dir, 'server.key'),
    client: (fqdn) => ({ cert: path.join(dir, 'clients', `${fqdn}.crt`), key: path.join(dir, 'clients', `${fqdn}.key`) }),
  };
}
