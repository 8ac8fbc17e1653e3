import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { fingerprintSha256, issueClientCert, signCsr, type CertAndKey } from '../../src/pki/ca.js';
import { parseHost, parseSan, parseSanList } from '../../src/pki/names.js';

const BIN = fileURLToPath(new URL('../../../bin/pushprox-proxy.js', import.meta.url));
const TIMEOUT_MS = 60_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: readonly string[], opts: { input?: string; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(cmd, [...args], { timeout: TIMEOUT_MS, cwd: opts.cwd, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

const proxy = (...args: string[]) => run(process.execPath, [BIN, ...args]);
const mode = (p: string) => fs.statSync(p).mode & 0o777;

describe('pki', () => {
  let tmp = '';
  let dir = '';
  let initRun: Run;
  let issueRun: Run;
  const read = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8');
  const ca = (): CertAndKey => ({ certPem: read('ca.crt'), keyPem: read('ca.key') });

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pushprox-pki-'));
    dir = path.join(tmp, 'pki');
    initRun = await proxy('pki', 'init', `--pki.dir=${dir}`, '--pki.san=localhost,IP:127.0.0.1,::1');
    issueRun = await proxy('pki', 'issue', 'host-a.example', `--pki.dir=${dir}`);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('init writes the CA and server pair with private modes', () => {
    assert.equal(initRun.code, 0, initRun.stderr);
    assert.equal(mode(dir), 0o700);
    assert.equal(mode(path.join(dir, 'ca.key')), 0o600);
    assert.equal(mode(path.join(dir, 'server.key')), 0o600);
    assert.equal(mode(path.join(dir, 'ca.crt')), 0o644);
    assert.equal(mode(path.join(dir, 'server.crt')), 0o644);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temp files left behind');
    for (const f of ['ca.key', 'ca.crt', 'server.key', 'server.crt']) assert.match(initRun.stdout, new RegExp(`wrote .*${f}`));
  });

  test('openssl accepts the server certificate and sees the CA and SANs', async () => {
    const v = await run('openssl', ['verify', '-CAfile', 'ca.crt', 'server.crt'], { cwd: dir });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /server\.crt: OK/);
    const caText = (await run('openssl', ['x509', '-noout', '-text', '-in', 'ca.crt'], { cwd: dir })).stdout;
    assert.match(caText, /Basic Constraints: critical\s+CA:TRUE/);
    assert.match(caText, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
    assert.match(caText, /Subject: CN ?= ?pushprox CA [0-9a-f]{8}/);
    const srv = (await run('openssl', ['x509', '-noout', '-text', '-in', 'server.crt'], { cwd: dir })).stdout;
    assert.match(srv, /Subject: CN ?= ?localhost/);
    assert.match(srv, /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
    assert.match(srv, /TLS Web Server Authentication/);
    assert.doesNotMatch(srv, /TLS Web Client Authentication/);
    assert.match(srv, /Digital Signature, Key Encipherment/);
    assert.match(srv, /CA:FALSE/);
    const ski = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(caText)?.[1];
    assert.ok(ski);
    assert.match(srv, new RegExp(`Authority Key Identifier:\\s+(keyid:)?${ski}`));
    const serial = /Serial Number:\s+([0-9a-f:]+)/.exec(srv)?.[1];
    assert.equal(serial?.split(':').length, 16, 'a 16-byte serial');
  });

  test('the printed fingerprint is openssl\'s SHA-256 fingerprint of ca.crt', async () => {
    const fp = await run('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', 'ca.crt'], { cwd: dir });
    const expected = /Fingerprint=([0-9A-F:]+)/.exec(fp.stdout)?.[1];
    assert.ok(expected, fp.stdout);
    assert.match(initRun.stdout, new RegExp(`SHA-256 fingerprint: ${expected}\\n`));
    assert.equal(fingerprintSha256(read('ca.crt')), expected);
  });

  test('issue writes a client certificate for the FQDN', async () => {
    assert.equal(issueRun.code, 0, issueRun.stderr);
    assert.equal(mode(path.join(dir, 'clients', 'host-a.example.key')), 0o600);
    const v = await run('openssl', ['verify', '-CAfile', 'ca.crt', 'clients/host-a.example.crt'], { cwd: dir });
    assert.equal(v.code, 0, v.stderr);
    const text = (await run('openssl', ['x509', '-noout', '-text', '-in', 'clients/host-a.example.crt'], { cwd: dir })).stdout;
    assert.match(text, /Subject: CN ?= ?host-a\.example\n/);
    assert.match(text, /Subject Alternative Name:\s+DNS:host-a\.example\n/);
    assert.match(text, /TLS Web Client Authentication/);
    assert.doesNotMatch(text, /TLS Web Server Authentication/);
  });

  test('mutual TLS handshake with curl and node', async () => {
    const seen: string[] = [];
    const server = https.createServer(
      { key: read('server.key'), cert: read('server.crt'), ca: read('ca.crt'), requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const cn = (req.socket as TLSSocket).getPeerCertificate().subject?.CN;
        seen.push(String(cn));
        res.end(`hello ${cn}`);
      },
    );
    try {
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const withCert = await run('curl', ['-sS', '--max-time', '20', '--cacert', 'ca.crt', '--cert', 'clients/host-a.example.crt',
        '--key', 'clients/host-a.example.key', url], { cwd: dir });
      assert.equal(withCert.code, 0, withCert.stderr);
      assert.equal(withCert.stdout, 'hello host-a.example');
      const without = await run('curl', ['-sS', '--max-time', '20', '--cacert', 'ca.crt', url], { cwd: dir });
      assert.notEqual(without.code, 0, 'a client without a certificate must be refused');
      const body = await new Promise<string>((resolve, reject) => {
        const req = https.request(url, {
          ca: read('ca.crt'), cert: read('clients/host-a.example.crt'), key: read('clients/host-a.example.key'), timeout: 20_000,
        }, (res) => {
          let b = '';
          res.setEncoding('utf8').on('data', (c: string) => (b += c)).on('end', () => resolve(b)).on('error', reject);
        });
        req.on('error', reject).on('timeout', () => req.destroy(new Error('timeout'))).end();
      });
      assert.equal(body, 'hello host-a.example');
      assert.deepEqual(seen, ['host-a.example', 'host-a.example']);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  describe('signCsr', () => {
    const csrFor = async (name: string, ...extra: string[]) => {
      const r = await run('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(tmp, `${name}.key`),
        '-subj', `/CN=${name}`, ...extra]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };

    test('signs a CSR for its own FQDN; the result verifies', async () => {
      const csr = await csrFor('host-a.example');
      const pem = signCsr(ca(), csr, 'host-a.example', 30);
      const file = path.join(tmp, 'signed.crt');
      fs.writeFileSync(file, pem);
      const v = await run('openssl', ['verify', '-CAfile', path.join(dir, 'ca.crt'), file]);
      assert.equal(v.code, 0, v.stderr);
      const text = (await run('openssl', ['x509', '-noout', '-text', '-in', file])).stdout;
      assert.match(text, /Subject: CN ?= ?host-a\.example\n/);
      assert.match(text, /DNS:host-a\.example\n/);
      assert.match(text, /TLS Web Client Authentication/);
      const mod = async (args: string[]) => (await run('openssl', args)).stdout;
      assert.equal(await mod(['x509', '-noout', '-modulus', '-in', file]),
        await mod(['rsa', '-noout', '-modulus', '-in', path.join(tmp, 'host-a.example.key')]), 'the CSR\'s key is certified');
    });

    test('refuses a CSR for another FQDN, or naming extra hosts', async () => {
      const csr = await csrFor('host-a.example');
      assert.throws(() => signCsr(ca(), csr, 'host-b.example', 30), /expected the request to name only host-b\.example, got CN=host-a\.example/);
      const sneaky = await csrFor('host-a.example', '-addext', 'subjectAltName=DNS:host-a.example,DNS:proxy.example');
      assert.throws(() => signCsr(ca(), sneaky, 'host-a.example', 30), /got DNS:proxy\.example/);
      const ipCsr = await csrFor('10.0.0.7', '-addext', 'subjectAltName=IP:10.0.0.7');
      assert.match(signCsr(ca(), ipCsr, '10.0.0.7', 30), /BEGIN CERTIFICATE/);
    });

    test('refuses a CSR with a broken signature', async () => {
      const csr = await csrFor('host-a.example');
      const der = Buffer.from(csr.replace(/-----[A-Z ]+-----/g, '').replace(/\s/g, ''), 'base64');
      der[der.length - 10] = der[der.length - 10]! ^ 0xff; // inside the signature BIT STRING
      const broken = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
      assert.throws(() => signCsr(ca(), broken, 'host-a.example', 30), /not signed by its own key/);
      assert.throws(() => signCsr(ca(), 'garbage', 'host-a.example', 30), /expected a PEM PKCS#10 request/);
    });
  });

  describe('refusals', () => {
    test('init over an existing CA exits 1 naming the file; --pki.force replaces it', async () => {
      const before = read('ca.crt');
      const again = await proxy('pki', 'init', `--pki.dir=${dir}`, '--pki.san=localhost');
      assert.equal(again.code, 1);
      assert.ok(again.stderr.includes(path.join(dir, 'ca.crt')), again.stderr);
      assert.equal(read('ca.crt'), before, 'the CA is untouched');
      const other = path.join(tmp, 'forced');
      assert.equal((await proxy('pki', 'init', `--pki.dir=${other}`, '--pki.san=a.example')).code, 0);
      const old = fs.readFileSync(path.join(other, 'ca.crt'), 'utf8');
      const forced = await proxy('pki', 'init', `--pki.dir=${other}`, '--pki.san=a.example', '--pki.force');
      assert.equal(forced.code, 0, forced.stderr);
      assert.notEqual(fs.readFileSync(path.join(other, 'ca.crt'), 'utf8'), old);
    });

    test('issue without a CA exits 1 and says to run pki init', async () => {
      const r = await proxy('pki', 'issue', 'host-a.example', `--pki.dir=${path.join(tmp, 'empty')}`);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /empty\/ca\.crt does not exist; run "pushprox-proxy pki init/);
    });

    test('issue refuses to replace a client pair without --pki.force', async () => {
      const r = await proxy('pki', 'issue', 'host-a.example', `--pki.dir=${dir}`);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /host-a\.example\.(crt|key) already exists/);
    });

    test('usage errors exit 2 saying what was expected', async () => {
      const bad = await proxy('pki', 'issue', 'bad host!', `--pki.dir=${dir}`);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /expected a host name or IP address, got "bad host!"/);
      const noSan = await proxy('pki', 'init', `--pki.dir=${path.join(tmp, 'nosan')}`);
      assert.equal(noSan.code, 2);
      assert.match(noSan.stderr, /pki\.san/);
      assert.equal(fs.existsSync(path.join(tmp, 'nosan')), false);
      const badSan = await proxy('pki', 'init', `--pki.dir=${path.join(tmp, 'badsan')}`, '--pki.san=IP:999.1.1.1');
      assert.equal(badSan.code, 2);
      assert.match(badSan.stderr, /invalid value for --pki\.san: expected an IP address/);
      const wrongCmd = await proxy('pki', 'issue', 'h.example', `--pki.dir=${dir}`, '--pki.san=x');
      assert.equal(wrongCmd.code, 2);
      assert.match(wrongCmd.stderr, /--pki\.san applies to "pki init" only/);
    });

    test('pki --help lists both commands and their flags with defaults', async () => {
      const r = await proxy('pki', '--help');
      assert.equal(r.code, 0, r.stderr);
      for (const s of ['pki init', 'pki issue <fqdn>', '--pki.dir', '--pki.san', '--pki.force', 'default: "825"', 'default: "3650"']) {
        assert.ok(r.stdout.includes(s), `help mentions ${s}`);
      }
    });
  });
});

test('the proxy itself never loads node-forge; pki does', async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pushprox-pki-lazy-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const probe = path.join(tmp, 'probe.cjs');
  // Runs before main: reports at exit whether node-forge entered the CJS cache (ESM-imported CJS lands there too).
  fs.writeFileSync(probe, `const M = require('node:module');
process.on('exit', () => process.stderr.write('FORGE_LOADED=' + Object.keys(M._cache).some((k) => k.includes('node-forge')) + '\\n'));
setTimeout(() => process.exit(0), 2000).unref();
`);
  const server = await run(process.execPath, ['--require', probe, BIN, '--web.listen-address=127.0.0.1:0']);
  const out = server.stdout + server.stderr;
  assert.match(out, /Listening/, 'the server started before the probe looked');
  assert.match(out, /FORGE_LOADED=false/);
  const pki = await run(process.execPath, ['--require', probe, BIN, 'pki', '--help']);
  assert.match(pki.stderr, /FORGE_LOADED=true/, 'the probe can see node-forge when it is loaded');
});

describe('pki names', () => {
  test('SAN entries: prefixes, bare names and IPs, IPv6', () => {
    assert.deepEqual(parseSanList('DNS:a.example, IP:10.0.0.1,b.example,192.168.1.1,::1,IP:fe80::2,a.example'), [
      { type: 'dns', value: 'a.example' },
      { type: 'ip', value: '10.0.0.1' },
      { type: 'dns', value: 'b.example' },
      { type: 'ip', value: '192.168.1.1' },
      { type: 'ip', value: '::1' },
      { type: 'ip', value: 'fe80::2' },
    ]);
    assert.deepEqual(parseSan('*.svc.example'), { type: 'dns', value: '*.svc.example' });
    assert.throws(() => parseSan('*.com'), /not a valid host name label/);
    assert.throws(() => parseSan('DNS:a b'), /expected DNS:name, IP:address/);
    assert.throws(() => parseSanList(' , '), /got nothing/);
  });

  test('client FQDNs: host names or IPs only', () => {
    assert.deepEqual(parseHost('2001:db8::1'), { type: 'ip', value: '2001:db8::1' });
    assert.deepEqual(parseHost('node_1.example'), { type: 'dns', value: 'node_1.example' });
    for (const bad of ['', 'a..b', 'x.example.', '-a.example', '*.example.com', 'a/b']) {
      assert.throws(() => parseHost(bad), /expected a host name or IP address/, bad);
    }
  });

  test('issueClientCert rejects a bad FQDN before signing', () => {
    assert.throws(() => issueClientCert({ certPem: '', keyPem: '' }, 'not a host', 1), /expected a host name or IP address/);
  });
});
