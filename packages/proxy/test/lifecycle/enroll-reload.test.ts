import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CONTENT_TYPE_CSR, PATH_ENROLL, silentLogger } from '@pushprox/shared';
import { startProxy } from '../../src/listeners/server.js';
import { createCa } from '../../src/pki/ca.js';
import { caPaths, writePair } from '../../src/pki/store.js';
import { createEnrollment } from '../../src/enroll/index.js';
import { ConfigReloader } from '../../src/lifecycle/reloader.js';
import { addProxyReloadSteps } from '../../src/lifecycle/reload-steps.js';
import { TEST_CONFIG, exchange } from '../helpers.js';
import { haveOpenssl, OPENSSL } from '../certs.js';

test('a reload re-reads --enroll.token-file: a removed bootstrap token is refused, a new one enrolls; a bad file keeps the old tokens', async (t) => {
  if (!haveOpenssl()) return t.skip('needs /usr/bin/openssl');
  const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-enroll-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pki = path.join(dir, 'pki');
  mkdirSync(pki, { mode: 0o700 });
  writePair(caPaths(pki), createCa({ days: 30 }));
  const tokens = path.join(dir, 'tokens');
  writeFileSync(tokens, 'old-bootstrap-token-000001\n');
  const enrollment = createEnrollment({ tokenFile: tokens, caDir: pki, certValidityMs: 3_600_000, tls: true, logger: silentLogger });
  const proxy = await startProxy(TEST_CONFIG, { logger: silentLogger, enroll: enrollment.handler });
  t.after(() => proxy.close());
  const reloader = new ConfigReloader({ logger: silentLogger });
  addProxyReloadSteps(reloader, { webConfigFile: undefined, clientWebConfigFile: undefined, clientTokenFile: undefined }, proxy, enrollment);

  const csr = execFileSync(OPENSSL, ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'k.pem'), '-subj', '/CN=host-a.example'], { encoding: 'utf8' });
  const enroll = async (token: string) =>
    (
      await exchange(
        proxy.address.port,
        `POST ${PATH_ENROLL} HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer ${token}\r\nContent-Type: ${CONTENT_TYPE_CSR}\r\nContent-Length: ${Buffer.byteLength(csr)}\r\n\r\n${csr}`,
        20_000,
      )
    ).head.status;

  assert.equal(await enroll('new-bootstrap-token-000002'), 401);
  writeFileSync(tokens, 'new-bootstrap-token-000002\n');
  await reloader.reload();
  assert.equal(await enroll('old-bootstrap-token-000001'), 401, 'the removed token is refused');
  assert.equal(await enroll('new-bootstrap-token-000002'), 200);
  writeFileSync(tokens, 'short uses=many\n');
  await assert.rejects(reloader.reload(), /--enroll.token-file/);
  assert.equal(reloader.state().lastSuccess, false);
  assert.equal(await enroll('new-bootstrap-token-000002'), 200, 'the previous tokens stay');
});
