import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { fileURLToPath } from 'node:url';
import { CONTENT_TYPE_CSR, CONTENT_TYPE_PEM, PATH_ENROLL, PATH_ENROLL_CA, silentLogger, type Logger } from '@pushprox/shared';
import { startProxy, type RunningProxy } from '../../src/listeners/server.js';
import { loadWebConfig } from '../../src/auth/web-config.js';
import { createCa, fingerprintSha256, issueServerCert } from '../../src/pki/ca.js';
import { caPaths, writePair } from '../../src/pki/store.js';
import { createEnrollment } from '../../src/enroll/index.js';
import { createEnrollHandler } from '../../src/enroll/handler.js';
import { EnrollState } from '../../src/enroll/state.js';
import { parseEnrollTokens } from '../../src/enroll/tokens.js';
import { TEST_CONFIG } from '../helpers.js';

const BIN = fileURLToPath(new URL('../../../bin/pushprox-proxy.js', import.meta.url));
const TIMEOUT_MS = 30_000;

interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

function recording(lines: LogLine[]): Logger {
  const make = (base: Record<string, unknown>): Logger => ({
    debug: () => {},
    info: (msg, fields) => void lines.push({ level: 'info', msg, fields: { ...base, ...fields } }),
    warn: (msg, fields) => void lines.push({ level: 'warn', msg, fields: { ...base, ...fields } }),
    error: (msg, fields) => void lines.push({ level: 'error', msg, fields: { ...base, ...fields } }),
    child: (fields) => make({ ...base, ...fields }),
    debugEnabled: false,
  });
  return make({});
}

function run(cmd: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, [...args], { timeout: TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

// Tokens of the test token file; each case uses its own, so cases stay independent.
const T = {
  any: 'any-fqdn-token-0000000001',
  once: 'single-use-token-00000001',
  race: 'single-use-token-00000002',
  restart: 'single-use-token-00000003',
  dc1: 'pattern-token-0000000001',
  expired: 'expired-token-0000000001',
};
const TOKEN_FILE = `# bootstrap tokens
${T.any}
${T.once} uses=1
${T.race} uses=1
${T.restart} uses=1 host-r.example

${T.dc1} *.dc1.example   # only dc1 hosts
${T.expired} expires=2020-01-01T00:00:00Z
`;

let tmp = '';
let pki = '';
let caPem = '';
let proxy: RunningProxy;
const logs: LogLine[] = [];
const f = (name: string) => path.join(tmp, name);

async function startEnrollProxy(extra: { handler?: ReturnType<typeof createEnrollHandler> } = {}): Promise<RunningProxy> {
  const web = loadWebConfig(f('web.yml'));
  const enroll =
    extra.handler ??
    createEnrollment({ tokenFile: f('tokens'), caDir: pki, certValidityMs: 3_600_000, tls: true, logger: recording(logs) }).handler;
  return startProxy(TEST_CONFIG, { logger: silentLogger, web, enroll });
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pushprox-enroll-'));
  pki = path.join(tmp, 'pki');
  fs.mkdirSync(pki, { mode: 0o700 });
  const ca = createCa({ days: 30 });
  writePair(caPaths(pki), ca);
  writePair({ cert: path.join(pki, 'server.crt'), key: path.join(pki, 'server.key') }, issueServerCert(ca, [{ type: 'ip', value: '127.0.0.1' }], 30));
  caPem = ca.certPem;
  fs.writeFileSync(f('tokens'), TOKEN_FILE);
  fs.writeFileSync(
    f('web.yml'),
    `tls_server_config:\n  cert_file: ${path.join(pki, 'server.crt')}\n  key_file: ${path.join(pki, 'server.key')}\n` +
      `  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ${caPaths(pki).cert}\n`,
  );
  proxy = await startEnrollProxy();
});
after(async () => {
  await proxy?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A fresh RSA key (in `<name>.key`) and a CSR for `cn`, made by openssl. */
async function csrFor(name: string, cn: string, ...extra: string[]): Promise<string> {
  const r = await run('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-subj', `/CN=${cn}`, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

interface Reply {
  status: number;
  body: string;
  headers: Record<string, unknown>;
}

function request(
  method: string,
  urlPath: string,
  opts: { body?: string | Buffer; token?: string; cert?: string; key?: string; headers?: Record<string, string>; port?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: opts.port ?? proxy.address.port,
        path: urlPath,
        method,
        ca: caPem,
        agent: false,
        ...(opts.cert && { cert: opts.cert, key: opts.key }),
        headers: {
          ...(opts.body !== undefined && { 'Content-Type': CONTENT_TYPE_CSR }),
          ...(opts.token && { Authorization: `Bearer ${opts.token}` }),
          ...opts.headers,
        },
      },
      (res) => buffer(res).then((b) => resolve({ status: res.statusCode!, body: b.toString(), headers: res.headers }), reject),
    );
    req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error('no reply in time')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

const enroll = (csr: string, token?: string, tls: { cert?: string; key?: string } = {}) =>
  request('POST', PATH_ENROLL, { body: csr, ...(token && { token }), ...tls });

describe('enrollment endpoint', () => {
  test('GET /enroll/ca serves the CA certificate without authentication', async () => {
    const r = await request('GET', PATH_ENROLL_CA);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], CONTENT_TYPE_PEM);
    assert.equal(r.body, caPem);
    assert.equal(fingerprintSha256(r.body), fingerprintSha256(fs.readFileSync(caPaths(pki).cert, 'utf8')));
  });

  test('a valid token gets the CSR signed; openssl verifies it against the CA and it certifies the CSR key', async () => {
    const csr = await csrFor('a', 'host-a.example');
    const r = await enroll(csr, T.any);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['content-type'], CONTENT_TYPE_PEM);
    fs.writeFileSync(f('a.crt'), r.body);
    const v = await run('openssl', ['verify', '-CAfile', caPaths(pki).cert, f('a.crt')]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /a\.crt: OK/);
    const x = new X509Certificate(r.body);
    assert.equal(x.subject, 'CN=host-a.example');
    assert.equal(x.subjectAltName, 'DNS:host-a.example');
    assert.ok(x.checkPrivateKey((await import('node:crypto')).createPrivateKey(fs.readFileSync(f('a.key')))));
    const lifetime = Date.parse(x.validTo) - Date.now();
    assert.ok(lifetime > 3_500_000 && lifetime <= 3_600_000, `--enroll.cert-validity (1h) is the lifetime, got ${lifetime} ms`);
    const line = logs.find((l) => l.msg === 'Enrolled client' && l.fields['fqdn'] === 'host-a.example');
    assert.ok(line, JSON.stringify(logs));
    assert.equal(line.level, 'info');
    assert.equal(line.fields['serial'], x.serialNumber);
    assert.equal(line.fields['by'], 'token on line 2');
    assert.ok(line.fields['not_after']);
  });

  test('a single-use token works once; the second use is 401', async () => {
    assert.equal((await enroll(await csrFor('o1', 'host-o.example'), T.once)).status, 200);
    const again = await enroll(await csrFor('o2', 'host-o.example'), T.once);
    assert.equal(again.status, 401);
    assert.match(again.body, /used up \(1 of 1 uses\)/);
  });

  test('two concurrent enrollments with a single-use token: exactly one wins', async () => {
    const [c1, c2] = await Promise.all([csrFor('r1', 'host-r1.example'), csrFor('r2', 'host-r2.example')]);
    const replies = await Promise.all([enroll(c1, T.race), enroll(c2, T.race)]);
    assert.deepEqual(replies.map((r) => r.status).sort(), [200, 401], JSON.stringify(replies.map((r) => r.body)));
  });

  test('a token restricted by pattern: matching FQDN 200, another 403 and no use counted', async () => {
    const wrong = await enroll(await csrFor('p1', 'host-p.dc2.example'), T.dc1);
    assert.equal(wrong.status, 403);
    assert.match(wrong.body, /not valid for "host-p\.dc2\.example"/);
    assert.equal((await enroll(await csrFor('p2', 'host-p.dc1.example'), T.dc1)).status, 200);
    const deeper = await enroll(await csrFor('p3', 'a.b.dc1.example'), T.dc1);
    assert.equal(deeper.status, 403, '* matches within one label only');
    const warn = logs.find((l) => l.level === 'warn' && l.fields['fqdn'] === 'host-p.dc2.example');
    assert.ok(warn, 'refusals are logged at warn with the FQDN');
    assert.equal(warn.fields['by'], 'token on line 7');
    assert.ok(!JSON.stringify(logs).includes(T.dc1), 'the token itself is never logged');
  });

  test('an expired token is 401; no or an unknown token is 401', async () => {
    const csr = await csrFor('e', 'host-e.example');
    const expired = await enroll(csr, T.expired);
    assert.equal(expired.status, 401);
    assert.match(expired.body, /expired at 2020-01-01T00:00:00\.000Z/);
    const none = await enroll(csr);
    assert.equal(none.status, 401);
    assert.match(none.body, /expected "Authorization: Bearer <bootstrap token>" or a client certificate/);
    assert.equal((await enroll(csr, 'no-such-token-000000000000')).status, 401);
    assert.equal((await request('POST', PATH_ENROLL, { body: csr, headers: { Authorization: 'Basic eDp5' } })).status, 401);
  });

  test('bad CSRs: garbage 400, naming an extra host 400, one CN for another FQDN is what is authorised', async () => {
    const garbage = await enroll('-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----\n', T.any);
    assert.equal(garbage.status, 400);
    assert.match(garbage.body, /expected a PEM PKCS#10 certificate request/);
    const extra = await enroll(await csrFor('x', 'host-x.example', '-addext', 'subjectAltName=DNS:host-x.example,DNS:proxy.example'), T.any);
    assert.equal(extra.status, 400);
    assert.match(extra.body, /expected the request to name only host-x\.example, got DNS:proxy\.example/);
    const notAHost = await enroll(await csrFor('y', 'not a host'), T.any);
    assert.equal(notAHost.status, 400);
    assert.match(notAHost.body, /host name or IP address/);
  });

  test('a body over 64 KiB is 413 even without Content-Length (counted as it streams)', async () => {
    const big = Buffer.alloc(100 * 1024, 'A');
    const r = await request('POST', PATH_ENROLL, { body: big, token: T.any, headers: { 'Transfer-Encoding': 'chunked' } });
    assert.equal(r.status, 413);
    assert.match(r.body, /at most 65536 bytes/);
  });

  test('renewal: a verified certificate renews its own FQDN without a token, not another (403)', async () => {
    const first = await enroll(await csrFor('n1', 'host-n.example'), T.any);
    assert.equal(first.status, 200);
    const tls = { cert: first.body, key: fs.readFileSync(f('n1.key'), 'utf8') };
    const renewed = await enroll(await csrFor('n2', 'host-n.example'), undefined, tls);
    assert.equal(renewed.status, 200, renewed.body);
    const x = new X509Certificate(renewed.body);
    assert.notEqual(x.serialNumber, new X509Certificate(first.body).serialNumber);
    assert.ok(x.checkIssued(new X509Certificate(caPem)));
    const other = await enroll(await csrFor('n3', 'host-m.example'), undefined, tls);
    assert.equal(other.status, 403);
    assert.match(other.body, /certificate CN=host-n\.example SAN=\[host-n\.example\] may not renew a certificate for "host-m\.example"/);
  });

  test('the request body must arrive within the deadline (408)', async () => {
    const handler = createEnrollHandler({
      ca: { certPem: caPem, keyPem: fs.readFileSync(caPaths(pki).key, 'utf8') },
      tokens: parseEnrollTokens(TOKEN_FILE, 'inline'),
      state: EnrollState.load(f('timeout-state.json')),
      certValidityMs: 60_000,
      logger: silentLogger,
      bodyTimeoutMs: 300,
    });
    const slow = await startEnrollProxy({ handler });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = https.request(
          { host: '127.0.0.1', port: slow.address.port, path: PATH_ENROLL, method: 'POST', ca: caPem, agent: false },
          (res) => {
            res.resume();
            resolve(res.statusCode!);
          },
        );
        req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error('no reply in time')));
        req.on('error', reject);
        req.write('-----BEGIN CERTIFICATE REQUEST-----\n'); // and never the rest
      });
      assert.equal(status, 408);
    } finally {
      await slow.close();
    }
  });

  test('use counts survive a restart: a used single-use token stays used; the state file is 0600 without secrets', async () => {
    assert.equal((await enroll(await csrFor('s1', 'host-r.example'), T.restart)).status, 200);
    await proxy.close();
    proxy = await startEnrollProxy();
    const again = await enroll(await csrFor('s2', 'host-r.example'), T.restart);
    assert.equal(again.status, 401);
    const stateFile = path.join(pki, 'enroll-state.json');
    assert.equal(fs.statSync(stateFile).mode & 0o777, 0o600);
    const text = fs.readFileSync(stateFile, 'utf8');
    for (const token of Object.values(T)) assert.ok(!text.includes(token), 'tokens are stored hashed');
    assert.equal(JSON.parse(text).version, 1);
  });

  test('without enrollment the paths are 404, like any unknown path', async () => {
    const plain = await startProxy(TEST_CONFIG, { logger: silentLogger, web: loadWebConfig(f('web.yml')) });
    try {
      assert.equal((await request('GET', PATH_ENROLL_CA, { port: plain.address.port })).status, 404);
      assert.equal((await request('POST', PATH_ENROLL, { port: plain.address.port, body: 'x', token: T.any })).status, 404);
    } finally {
      await plain.close();
    }
  });
});

describe('enrollment configuration', () => {
  test('token file errors name the line', () => {
    const bad = (text: string, re: RegExp) => assert.throws(() => parseEnrollTokens(text, 'tok'), re);
    bad('# c\nshort\n', /--enroll\.token-file tok line 2: expected a token of at least 16 characters, got 5/);
    bad(`${T.any} colour=blue\n`, /line 1: unknown key "colour"/);
    bad(`\n\n${T.any} uses=0\n`, /line 3: expected uses=<whole number ≥ 1>, got "uses=0"/);
    bad(`${T.any} expires=tomorrow\n`, /line 1: expected expires=<RFC 3339 time/);
    bad(`${T.any}\n${T.any}\n`, /line 2: the same token is already on line 1/);
    bad('# nothing\n\n', /holds no token/);
    const ok = parseEnrollTokens(TOKEN_FILE, 'tok');
    assert.equal(ok.size, 6);
    const r = [...ok.values()].find((t) => t.label === 'token on line 5')!;
    assert.equal(r.uses, 1);
    assert.equal(r.patterns.length, 1);
  });

  test('over plain HTTP a warning says bootstrap tokens travel in clear text', () => {
    const lines: LogLine[] = [];
    createEnrollment({ tokenFile: f('tokens'), caDir: pki, certValidityMs: 60_000, stateFile: f('plain-state.json'), tls: false, logger: recording(lines) });
    assert.ok(lines.some((l) => l.level === 'warn' && /clear text/.test(l.msg)), JSON.stringify(lines));
  });

  test('--enroll.token-file without --enroll.ca-dir is a usage error naming the flag', async () => {
    const r = await run(process.execPath, [BIN, '--web.listen-address=127.0.0.1:0', `--enroll.token-file=${f('tokens')}`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--enroll\.token-file needs --enroll\.ca-dir/);
    const missing = await run(process.execPath, [BIN, '--web.listen-address=127.0.0.1:0', `--enroll.token-file=${f('tokens')}`,
      `--enroll.ca-dir=${f('no-such-dir')}`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout + missing.stderr, /no-such-dir\/ca\.crt does not exist/);
  });
});
