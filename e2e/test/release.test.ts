import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import { constants, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initWinePrefix, QEMU_ARM64, QEMU_TOOLS, runUnderWine, stopWine, WINE_TOOLS, wineRunner } from '../src/cross.js';
import { startExporter, type TestExporter } from '../src/exporter.js';
import { scrapeVia } from '../src/http.js';
import { killAll } from '../src/procs.js';
import { requireTools, runBare, scrapeThroughPair, startBareClient, startBareProxy } from '../src/release.js';
import { run, type Ran } from '../src/run.js';

/**
 * The release artifacts (`npm run release`, scripts/release/) built into a
 * temporary directory and used as a user would: the single executables with
 * no Node on PATH, the .deb installed with dpkg and purged, the npm tarball
 * installed into an empty prefix. Every program listens on 127.0.0.1 only.
 * The linux-arm64 executables run under qemu-user, the Windows one under
 * wine (e2e/src/cross.ts).
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-e2e-release-'));
const out = path.join(dir, 'release');
const f = (...p: string[]) => path.join(dir, ...p);
const artifact = {
  proxy: path.join(out, 'pushprox-proxy'),
  client: path.join(out, 'pushprox-client'),
  deb: path.join(out, `pushprox-ts_${VERSION}_amd64.deb`),
  tgz: path.join(out, `pushprox-ts-${VERSION}.tgz`),
  proxyArm64: path.join(out, 'pushprox-proxy-linux-arm64'),
  clientArm64: path.join(out, 'pushprox-client-linux-arm64'),
  debArm64: path.join(out, `pushprox-ts_${VERSION}_arm64.deb`),
  clientExe: path.join(out, 'pushprox-client.exe'),
};
/** What the build needs, with the Debian package that brings each. */
const BUILD_TOOLS = {
  '/usr/bin/strip': 'binutils',
  '/usr/bin/readelf': 'binutils',
  '/usr/bin/aarch64-linux-gnu-strip': 'binutils-aarch64-linux-gnu',
  '/usr/bin/dpkg-deb': 'dpkg',
  '/usr/bin/dpkg-shlibdeps': 'dpkg-dev',
};
/** ELF e_machine (offset 18) of each Linux executable; PE machine of the Windows one. */
const EM_X86_64 = 0x3e;
const EM_AARCH64 = 0xb7;
const PE_AMD64 = 0x8664;

const PASSWORD = 'release-test-password';
/** Basic auth for both kinds of request: scrapes (Proxy-Authorization) and /clients (Authorization). */
const basic = (user: string, password: string) => {
  const value = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  return { 'Proxy-Authorization': value, Authorization: value };
};
let exporter: TestExporter;
let built: Ran | undefined;

before(async () => {
  exporter = await startExporter();
  // Cost 4: the test proves the bcrypt worker runs in the executable, not bcrypt's cost.
  const bcrypt = createRequire(import.meta.url)('bcryptjs') as { hashSync(p: string, rounds: number): string };
  writeFileSync(f('web.yml'), `basic_auth_users:\n  prometheus: ${bcrypt.hashSync(PASSWORD, 4)}\n`);
});
after(async () => {
  await killAll();
  await exporter?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('release artifacts', () => {
  test('npm run release builds the linux-x64, linux-arm64 and windows-x64 executables, two .debs, an npm tarball and SHA256SUMS covering them', async (t) => {
    if (!requireTools(t, BUILD_TOOLS)) return;
    // tsc -b already ran (npm test builds first); --fast: gzip -1 for the .debs, the same files inside.
    built = await run(process.execPath, [path.join(ROOT, 'scripts/release/build.mjs'), '--skip-tsc', '--fast', '--out', out], {
      cwd: ROOT,
      timeoutMs: 480_000,
    });
    assert.equal(built.code, 0, `${built.stdout}\n${built.stderr}`);
    for (const file of Object.values(artifact)) assert.ok(existsSync(file), `${file}\n${built.stdout}`);
    const sums = readFileSync(path.join(out, 'SHA256SUMS'), 'utf8');
    const check = await run('/usr/bin/sha256sum', ['--check', '--strict', 'SHA256SUMS'], { cwd: out });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    for (const file of Object.values(artifact)) assert.match(sums, new RegExp(`^[0-9a-f]{64}  ${path.basename(file).replace(/\./g, '\\.')}$`, 'm'));
    // Each executable is node with the program inside: tens of MB, never a script, for the machine its name says.
    const elf: Array<[string, number]> = [[artifact.proxy, EM_X86_64], [artifact.client, EM_X86_64], [artifact.proxyArm64, EM_AARCH64], [artifact.clientArm64, EM_AARCH64]];
    for (const [exe, machine] of elf) {
      const head = readFileSync(exe).subarray(0, 20);
      assert.ok(statSync(exe).size > 40e6, `${exe}: ${statSync(exe).size} bytes`);
      assert.equal(head.subarray(0, 4).toString('latin1'), '\x7fELF', exe);
      assert.equal(head.readUInt16LE(18), machine, `${exe}: ELF machine`);
    }
    const exe = readFileSync(artifact.clientExe);
    assert.ok(exe.length > 40e6, `${artifact.clientExe}: ${exe.length} bytes`);
    assert.equal(exe.subarray(0, 2).toString('latin1'), 'MZ');
    const pe = exe.readUInt32LE(0x3c);
    assert.equal(exe.subarray(pe, pe + 4).toString('latin1'), 'PE\0\0');
    assert.equal(exe.readUInt16LE(pe + 4), PE_AMD64, 'PE machine');
    // node.exe's Authenticode signature is removed, not left broken by the injection (data directory 4 of the PE32+ header).
    assert.equal(exe.readUInt32LE(pe + 24 + 112 + 4 * 8 + 4), 0, 'no certificate table');
    t.diagnostic(`sizes: ${Object.values(artifact).map((f) => `${path.basename(f)} ${statSync(f).size}`).join(', ')}`);
  });

  test('the executables run with no Node on PATH: --help, --version, pki init, and enroll against the proxy executable', async (t) => {
    if (!needBuild(t)) return;
    for (const exe of [artifact.proxy, artifact.client]) {
      const help = await runBare(exe, ['--help']);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /--log\.level/);
      assert.equal(help.stderr, '', 'no warning on stderr (experimental SEA, restricted require)');
      const version = await runBare(exe, ['--version']);
      assert.equal(version.stdout.trim(), VERSION, version.stderr);
    }
    // pki: node-forge, imported lazily, is in the bundle.
    const init = await runBare(artifact.proxy, ['pki', 'init', `--pki.dir=${f('pki')}`, '--pki.san=IP:127.0.0.1'], { timeoutMs: 60_000 });
    assert.equal(init.code, 0, init.stderr);
    const fingerprint = /SHA-256 fingerprint: ([0-9A-F:]{95})\n/.exec(init.stdout)?.[1];
    assert.ok(fingerprint, init.stdout);
    assert.equal(new X509Certificate(readFileSync(f('pki', 'ca.crt'))).fingerprint256, fingerprint);

    // enroll: the proxy's lazily imported enrollment and the client's, over TLS.
    const token = 'release-test-token-0000000001';
    writeFileSync(f('tokens'), `${token} uses=1 127.0.0.1\n`);
    writeFileSync(f('tls.yml'), `tls_server_config:\n  cert_file: ${f('pki', 'server.crt')}\n  key_file: ${f('pki', 'server.key')}\n`);
    const proxy = await startBareProxy(artifact.proxy, [`--web.config.file=${f('tls.yml')}`, `--enroll.token-file=${f('tokens')}`, `--enroll.ca-dir=${f('pki')}`]);
    const enroll = await runBare(artifact.client, [
      'enroll',
      `--proxy-url=https://127.0.0.1:${proxy.port}`,
      '--fqdn=127.0.0.1',
      `--enroll.token=${token}`,
      `--enroll.ca-fingerprint=${fingerprint}`,
      `--tls.dir=${f('tls')}`,
    ], { timeoutMs: 60_000 });
    await proxy.stop();
    assert.equal(enroll.code, 0, `${enroll.stderr}\n${proxy.output}`);
    const cert = new X509Certificate(readFileSync(f('tls', 'client.crt')));
    assert.equal(cert.subjectAltName, 'IP Address:127.0.0.1');
    assert.ok(cert.verify(new X509Certificate(readFileSync(f('pki', 'ca.crt'))).publicKey), 'signed by the CA of pki init');
  });

  test('the executable pair scrapes with basic auth (bcrypt in a worker thread): right password 200, wrong one 407', async (t) => {
    if (!needBuild(t)) return;
    const proxy = await startBareProxy(artifact.proxy, [`--web.config.file=${f('web.yml')}`]);
    const client = startBareClient(artifact.client, proxy.url);
    try {
      const body = await scrapeThroughPair(proxy, client, `${exporter.url}/metrics`, basic('prometheus', PASSWORD));
      assert.match(body, /^demo_metric\{i="199"\} 199$/m);
      const wrong = await scrapeVia(proxy.port, `${exporter.url}/metrics`, { timeoutSecs: 5, headers: basic('prometheus', 'wrong') });
      assert.equal(wrong.status, 407, wrong.body.toString());
    } finally {
      await Promise.all([client.stop(), proxy.stop()]);
    }
    assert.doesNotMatch(proxy.output + client.output, /level=error/);
  });
});

describe('Debian package', () => {
  const DPKG_TOOLS = { '/usr/bin/dpkg': 'dpkg', '/usr/bin/lintian': 'lintian' };

  test('lintian (amd64 and arm64): no error or warning that is not overridden with a reason', async (t) => {
    if (!needBuild(t) || !requireTools(t, DPKG_TOOLS)) return;
    const r = await run('/usr/bin/lintian', ['--fail-on', 'error,warning', artifact.deb, artifact.debArm64], { timeoutMs: 240_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(r.stdout, /^[EW]: /m);
  });

  test('dpkg -i installs working programs and the pushprox user without starting anything; dpkg -r, then -P, leave nothing', async (t) => {
    if (!needBuild(t) || !requireTools(t, DPKG_TOOLS)) return;
    if (process.getuid?.() !== 0) {
      const why = 'dpkg -i needs root';
      if (process.env['PUSHPROX_E2E_REQUIRED'] === '1') throw new Error(`PUSHPROX_E2E_REQUIRED=1 but ${why}`);
      t.skip(why);
      return;
    }
    const dpkg = (...args: string[]) => run('/usr/bin/dpkg', args, { timeoutMs: 120_000 });
    const status = await run('/usr/bin/dpkg-query', ['-W', '-f=${db:Status-Abbrev}', 'pushprox-ts']);
    // A run that died half-way may have left the package; anything else of that name is not ours to replace.
    if (status.code === 0 && status.stdout.trim() !== '') assert.equal((await dpkg('--purge', 'pushprox-ts')).code, 0);
    const install = await dpkg('-i', artifact.deb);
    assert.equal(install.code, 0, install.stdout + install.stderr);
    try {
      const files = (await dpkg('-L', 'pushprox-ts')).stdout.split('\n').filter((l) => l !== '');
      for (const p of ['/usr/bin/pushprox-proxy', '/usr/bin/pushprox-client', '/etc/default/pushprox-proxy', '/lib/systemd/system/pushprox-proxy.service']) {
        assert.ok(files.includes(p), `${p} in dpkg -L`);
      }
      const version = await runBare('/usr/bin/pushprox-proxy', ['--version']);
      assert.equal(version.stdout.trim(), VERSION, version.stderr);
      const user = await run('/usr/bin/getent', ['passwd', 'pushprox']);
      assert.equal(user.code, 0, 'the pushprox user exists');
      assert.ok(Number(user.stdout.split(':')[2]) < 1000, `a system uid: ${user.stdout}`);
      const unit = readFileSync('/lib/systemd/system/pushprox-proxy.service', 'utf8');
      assert.match(unit, /^ExecStart=\/usr\/bin\/pushprox-proxy \$ARGS$/m);
      assert.match(unit, /^User=pushprox$/m);
      assert.doesNotMatch(unit, /\/opt\/pushprox|\/usr\/bin\/node/);
      assert.equal(existsSync('/etc/systemd/system/multi-user.target.wants/pushprox-proxy.service'), false, 'not enabled on install');
      const conffiles = await run('/usr/bin/dpkg-query', ['-W', '-f=${Conffiles}', 'pushprox-ts']);
      assert.match(conffiles.stdout, /^ \/etc\/default\/pushprox-proxy [0-9a-f]{32}$/m);
      assert.match(conffiles.stdout, /^ \/etc\/default\/pushprox-client [0-9a-f]{32}$/m);

      const proxy = await startBareProxy('/usr/bin/pushprox-proxy');
      const client = startBareClient('/usr/bin/pushprox-client', proxy.url);
      try {
        assert.match(await scrapeThroughPair(proxy, client, `${exporter.url}/metrics`), /^demo_metric\{i="0"\} 0$/m);
      } finally {
        await Promise.all([client.stop(), proxy.stop()]);
      }

      // A second install over the first (reinstall): postinst must be idempotent.
      const again = await dpkg('-i', artifact.deb);
      assert.equal(again.code, 0, again.stdout + again.stderr);

      assert.equal((await dpkg('-r', 'pushprox-ts')).code, 0);
      for (const p of ['/usr/bin/pushprox-proxy', '/usr/bin/pushprox-client', '/lib/systemd/system/pushprox-proxy.service']) {
        assert.equal(existsSync(p), false, `${p} removed by dpkg -r`);
      }
      assert.ok(existsSync('/etc/default/pushprox-proxy'), 'conffiles stay until purge');
      assert.equal((await dpkg('-P', 'pushprox-ts')).code, 0);
      const left = files.filter((p) => existsSync(p) && !statSync(p).isDirectory());
      assert.deepEqual(left, [], 'no file of the package after purge');
      const after = await run('/usr/bin/dpkg-query', ['-W', '-f=${db:Status-Abbrev}', 'pushprox-ts']);
      assert.notEqual(after.stdout.trim().slice(0, 2), 'ii', 'not installed');
    } finally {
      await dpkg('--purge', 'pushprox-ts');
    }
  });
});

describe('linux-arm64 under qemu-user', () => {
  test('both arm64 executables answer --help and --version with no Node on PATH', async (t) => {
    if (!needBuild(t) || !requireTools(t, QEMU_TOOLS, constants.F_OK)) return;
    for (const exe of [artifact.proxyArm64, artifact.clientArm64]) {
      const started = performance.now();
      const help = await runBare(exe, ['--help'], { runner: QEMU_ARM64 });
      t.diagnostic(`${path.basename(exe)} --help under qemu: ${Math.round(performance.now() - started)} ms`);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /--log\.level/);
      assert.equal(help.stderr, '', 'no warning on stderr');
      const version = await runBare(exe, ['--version'], { runner: QEMU_ARM64 });
      assert.equal(version.stdout.trim(), VERSION, version.stderr);
    }
  });

  test('an arm64 proxy and an arm64 client carry a scrape of a real exporter on loopback', async (t) => {
    if (!needBuild(t) || !requireTools(t, QEMU_TOOLS, constants.F_OK)) return;
    const started = performance.now();
    const proxy = await startBareProxy(artifact.proxyArm64, [], undefined, QEMU_ARM64);
    const client = startBareClient(artifact.clientArm64, proxy.url, [], undefined, QEMU_ARM64);
    try {
      assert.match(await scrapeThroughPair(proxy, client, `${exporter.url}/metrics`), /^demo_metric\{i="199"\} 199$/m);
    } finally {
      await Promise.all([client.stop('SIGTERM', 60_000), proxy.stop('SIGTERM', 60_000)]);
    }
    t.diagnostic(`start of both, registration and one scrape under qemu: ${Math.round(performance.now() - started)} ms`);
    assert.doesNotMatch(proxy.output + client.output, /level=error/);
  });

  test('the arm64 .deb has the files, modes and Depends of the amd64 one, Architecture arm64, and its programs run', async (t) => {
    if (!needBuild(t) || !requireTools(t, QEMU_TOOLS, constants.F_OK)) return;
    // Path, mode and owner of each member (sizes differ: other machine code).
    const members = async (deb: string) => (await run('/usr/bin/dpkg-deb', ['-c', deb])).stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)).map((f) => `${f[0]} ${f[1]} ${f[5]}`);
    assert.deepEqual(await members(artifact.debArm64), await members(artifact.deb));
    const field = async (deb: string, name: string) => (await run('/usr/bin/dpkg-deb', ['-f', deb, name])).stdout.trim();
    assert.equal(await field(artifact.debArm64, 'Architecture'), 'arm64');
    assert.equal(await field(artifact.debArm64, 'Depends'), await field(artifact.deb, 'Depends'));
    const root = f('arm64-deb');
    assert.equal((await run('/usr/bin/dpkg-deb', ['-x', artifact.debArm64, root])).code, 0);
    for (const program of ['pushprox-proxy', 'pushprox-client']) {
      const version = await runBare(path.join(root, 'usr/bin', program), ['--version'], { runner: QEMU_ARM64 });
      assert.equal(version.stdout.trim(), VERSION, `${program}: ${version.stderr}`);
    }
  });
});

describe('windows-x64 client under wine', () => {
  const wine = wineRunner(dir);
  after(() => stopWine(wine));

  test('pushprox-client.exe answers --help and --version with no Node on PATH', async (t) => {
    if (!needBuild(t) || !requireTools(t, WINE_TOOLS)) return;
    const init = await initWinePrefix(wine);
    assert.equal(init.code, 0, init.stdout + init.stderr);
    const started = performance.now();
    const help = await runUnderWine(wine, artifact.clientExe, ['--help']);
    t.diagnostic(`pushprox-client.exe --help under wine: ${Math.round(performance.now() - started)} ms`);
    assert.equal(help.code, 0, help.stdout + help.stderr);
    assert.match(help.stdout, /^pushprox-client --proxy-url=<url>/m);
    assert.match(help.stdout, /--log\.level/);
    assert.equal(help.stderr, '', 'no warning on stderr');
    const version = await runUnderWine(wine, artifact.clientExe, ['--version']);
    assert.equal(version.stdout.trim(), VERSION, version.stderr);
  });
});

describe('npm package', () => {
  test('npm install -g <tarball> into an empty prefix: no dependencies, both bins answer --help and scrape', async (t) => {
    if (!needBuild(t)) return;
    const prefix = f('npm-prefix');
    const npmCli = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
    const npm = existsSync(npmCli) ? [process.execPath, npmCli] : ['/usr/bin/npm'];
    const install = await run(npm[0]!, [...npm.slice(1), 'install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, artifact.tgz], {
      timeoutMs: 120_000,
    });
    assert.equal(install.code, 0, install.stdout + install.stderr);
    const pkgDir = path.join(prefix, 'lib', 'node_modules', 'pushprox-ts');
    const pkg = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { dependencies?: object; private?: boolean };
    assert.equal(pkg.dependencies, undefined, 'no runtime dependencies');
    assert.equal(existsSync(path.join(pkgDir, 'node_modules')), false);

    // The bins' #!/usr/bin/env node needs node on PATH; nothing else is there.
    const pathDirs = [path.join(prefix, 'bin'), path.dirname(process.execPath)];
    const bin = (name: string) => path.join(prefix, 'bin', name);
    for (const name of ['pushprox-proxy', 'pushprox-client']) {
      const help = await runBare(bin(name), ['--help'], { pathDirs });
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, new RegExp(`^${name} `, 'm'));
    }
    const proxy = await startBareProxy(bin('pushprox-proxy'), [`--web.config.file=${f('web.yml')}`], pathDirs);
    const client = startBareClient(bin('pushprox-client'), proxy.url, [], pathDirs);
    try {
      assert.match(await scrapeThroughPair(proxy, client, `${exporter.url}/metrics`, basic('prometheus', PASSWORD)), /demo_metric/);
    } finally {
      await Promise.all([client.stop(), proxy.stop()]);
    }
  });
});

/** Whether the first test built the release; otherwise skips (or, on CI, fails) the test that needs it. */
function needBuild(t: { skip(why: string): void }): boolean {
  if (built?.code === 0) return true;
  if (process.env['PUSHPROX_E2E_REQUIRED'] === '1') throw new Error('PUSHPROX_E2E_REQUIRED=1 but the release was not built (see the first test)');
  t.skip('the release was not built (see the first test)');
  return false;
}
