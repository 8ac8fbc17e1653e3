import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const OPENSSL = '/usr/bin/openssl';
export const haveOpenssl = () => existsSync(OPENSSL);

/**
 * A throw-away CA in `dir` with a server certificate for IP 127.0.0.1 and
 * client certificates whose SAN is each given name, made by openssl.
 */
export function makeCerts(dir: string, clients: readonly string[] = ['host-a.example']): void {
  const f = (name: string) => path.join(dir, name);
  const run = (...args: string[]) => execFileSync(OPENSSL, args, { stdio: 'ignore', timeout: 30_000 });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test CA', '-keyout', f('ca.key'), '-out', f('ca.crt'),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const leaves: Array<[string, string, string]> = [
    ['server', 'server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'],
    ...clients.map((c): [string, string, string] => [c, c, `subjectAltName=DNS:${c}\nextendedKeyUsage=clientAuth`]),
  ];
  for (const [name, cn, ext] of leaves) {
    writeFileSync(f(`${name}.ext`), `${ext}\n`);
    run('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    run('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-out', f(`${name}.crt`), '-extfile', f(`${name}.ext`));
  }
}
