import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { waitRegistered } from '../src/proxy-api.js';
import { Proc, killAll } from '../src/procs.js';
import { composeCommand, composeService } from '../src/compose.js';
import { run as runProgram, type Ran, type RunOptions } from '../src/run.js';

/**
 * The deployment files (Dockerfile, docker-compose.yml, examples/prometheus,
 * examples/systemd) checked against the real programs and the real tools that
 * read them: docker-compose, promtool, systemd-analyze, wget, sh.
 *
 * A missing tool skips its test with the reason; with PUSHPROX_E2E_REQUIRED=1
 * (CI) it fails the test instead. No Docker engine is available where these
 * tests run, so the Dockerfile is checked for its structure only, never built.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PROXY_BIN = path.join(ROOT, 'packages', 'proxy', 'bin', 'pushprox-proxy.js');
const CLIENT_BIN = path.join(ROOT, 'packages', 'client', 'bin', 'pushprox-client.js');
const FILES = {
  dockerfile: path.join(ROOT, 'Dockerfile'),
  dockerignore: path.join(ROOT, '.dockerignore'),
  compose: path.join(ROOT, 'docker-compose.yml'),
  prometheus: path.join(ROOT, 'examples', 'prometheus', 'prometheus.yml'),
  cron: path.join(ROOT, 'examples', 'prometheus', 'pushprox-clients.cron'),
  proxyUnit: path.join(ROOT, 'examples', 'systemd', 'pushprox-proxy.service'),
  proxySocket: path.join(ROOT, 'examples', 'systemd', 'pushprox-proxy.socket'),
  clientUnit: path.join(ROOT, 'examples', 'systemd', 'pushprox-client.service'),
  proxyDefault: path.join(ROOT, 'examples', 'systemd', 'pushprox-proxy.default'),
  clientDefault: path.join(ROOT, 'examples', 'systemd', 'pushprox-client.default'),
} as const;

const read = (file: string): string => readFileSync(file, 'utf8');

// ---------------------------------------------------------------------------
// Child processes: every one has a timeout, and is only ever signalled by PID.

/** run() from e2e/src/run.ts, from the repository root and within 10 s unless told otherwise. */
const run = (cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<Ran> =>
  runProgram(cmd, args, { cwd: ROOT, timeoutMs: 10_000, ...opts });

/** The executable `name` on PATH (or in the usual sbin directories), or undefined. */
function which(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const p = path.join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The tool's path if present; otherwise skips the test, or fails it when PUSHPROX_E2E_REQUIRED=1. */
function tool(t: TestContext, name: string, debianPackage: string): string | undefined {
  const p = which(name);
  if (p) return p;
  const why = `${name} not installed (apt-get install -y ${debianPackage})`;
  if (process.env['PUSHPROX_E2E_REQUIRED'] === '1') throw new Error(`PUSHPROX_E2E_REQUIRED=1 but ${why}`);
  t.skip(why);
  return undefined;
}

// Whatever a failing test left running.
after(killAll);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function getText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  assert.equal(res.status, 200, `GET ${url}`);
  return res.text();
}

// ---------------------------------------------------------------------------
// Reading the files.

/** `--flag` names in a command line or argument list (values are not flags: `--a=--b` yields `a`). */
function flagsIn(args: readonly string[]): string[] {
  return args.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]!);
}

/**
 * `args` with every `--name=...` for the given names dropped and `overrides` added.
 * (Replacing, not appending: a repeated --proxy-url is not last-wins.)
 */
function withFlags(args: readonly string[], overrides: readonly string[]): string[] {
  const names = new Set(flagsIn(overrides));
  return [...args.filter((a) => !(a.startsWith('--') && names.has(a.slice(2).split('=')[0]!))), ...overrides];
}

/** Arguments of ARGS="..." on active lines (or also on commented-out `#ARGS=` lines). */
function argsLines(file: string, withCommented: boolean): string[][] {
  const re = withCommented ? /^#?ARGS="([^"]*)"\s*$/gm : /^ARGS="([^"]*)"\s*$/gm;
  return [...read(file).matchAll(re)].map((m) => m[1]!.split(/\s+/).filter((a) => a !== ''));
}

interface Unit {
  /** section -> key -> every value given (systemd allows repeats). */
  readonly sections: Map<string, Map<string, string[]>>;
  get(section: string, key: string): string[];
  one(section: string, key: string): string | undefined;
}

function parseUnit(file: string): Unit {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of read(file).split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      current = new Map();
      sections.set(sec[1]!, current);
      continue;
    }
    const kv = /^([A-Za-z0-9]+)\s*=\s*(.*)$/.exec(line);
    assert.ok(kv && current, `${path.basename(file)}: cannot parse line ${JSON.stringify(raw)}`);
    const list = current.get(kv[1]!) ?? [];
    list.push(kv[2]!);
    current.set(kv[1]!, list);
  }
  return {
    sections,
    get: (s, k) => sections.get(s)?.get(k) ?? [],
    one: (s, k) => sections.get(s)?.get(k)?.at(-1),
  };
}

/** Seconds of a systemd or Go-style duration such as `30s`, `5m`, `1m30s`, `500ms`. */
function seconds(d: string): number {
  let total = 0;
  let rest = d.trim();
  const unit: Record<string, number> = { ms: 0.001, s: 1, sec: 1, m: 60, min: 60, h: 3600 };
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)\s*(ms|sec|s|min|m|h)?/.exec(rest);
    assert.ok(m && m[0] !== '', `cannot parse duration ${JSON.stringify(d)}`);
    total += Number(m[1]) * unit[m[2] ?? 's']!;
    rest = rest.slice(m[0].length).trim();
  }
  return total;
}

const helpCache = new Map<string, Promise<Set<string>>>();
/** Flags the program lists in its --help output. */
function helpFlags(bin: string): Promise<Set<string>> {
  let p = helpCache.get(bin);
  if (!p) {
    p = run(process.execPath, [bin, '--help']).then((r) => {
      assert.equal(r.code, 0, `${path.basename(bin)} --help exited ${r.code}:\n${r.stderr}`);
      const flags = new Set([...r.stdout.matchAll(/^\s+(?:-\w, )?--([\w.-]+)/gm)].map((m) => m[1]!));
      assert.ok(flags.has('help') && flags.has('log.level'), `unexpected --help output:\n${r.stdout}`);
      return flags;
    });
    helpCache.set(bin, p);
  }
  return p;
}

// ---------------------------------------------------------------------------

describe('docker-compose.yml', () => {
  test('docker-compose config -q accepts it without warnings', async (t) => {
    const dc = tool(t, 'docker-compose', 'docker-compose');
    if (!dc) return;
    const r = await run(dc, ['-f', FILES.compose, 'config', '-q'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'docker-compose printed warnings');
    const services = await run(dc, ['-f', FILES.compose, 'config', '--services'], { timeoutMs: 60_000 });
    assert.equal(services.code, 0, services.stderr);
    // docker-compose 1.x lists the services of every profile; those of `cluster` (README: several proxies) start only with --profile cluster.
    assert.deepEqual(services.stdout.trim().split('\n').sort(), [
      'client',
      'client-b',
      'clients-sd',
      'nats-1',
      'nats-2',
      'nats-3',
      'node-exporter',
      'prometheus',
      'proxy',
      'proxy-b',
      'proxy-c',
    ]);
    const cluster = await run(dc, ['-f', FILES.compose, '--profile', 'cluster', 'config', '-q'], { timeoutMs: 60_000 });
    assert.equal(cluster.code, 0, cluster.stderr);
    assert.equal(cluster.stderr.trim(), '', 'docker-compose printed warnings for --profile cluster');
    for (const name of ['nats-1', 'nats-2', 'nats-3', 'proxy-b', 'proxy-c', 'client-b']) assert.match(composeService(name), /^\s+profiles: \[cluster\]$/m, name);
    assert.ok(composeCommand('proxy-c').some((a) => a.startsWith('--cluster.nats-url=nats://nats-1:4222,')), composeCommand('proxy-c').join(' '));
  });

  test('services are wired to each other and to examples/prometheus/prometheus.yml', () => {
    const proxy = composeService('proxy');
    assert.match(proxy, /^\s+target: proxy$/m);
    assert.match(proxy, /^\s+- "127\.0\.0\.1:8080:8080"$/m);
    assert.deepEqual(composeCommand('proxy'), ['--web.listen-address=:8080']);

    const client = composeService('client');
    assert.match(client, /^\s+target: client$/m);
    // The client lives in node-exporter's network namespace, as on the exporter's own host.
    assert.match(client, /^\s+network_mode: "service:node-exporter"$/m);
    const cmd = composeCommand('client');
    assert.ok(cmd.includes('--proxy-url=http://proxy:8080/'), cmd.join(' '));
    assert.ok(cmd.includes('--fqdn=node-exporter'), cmd.join(' '));

    assert.match(composeService('node-exporter'), /^\s+image: prom\/node-exporter:/m);
    const prom = composeService('prometheus');
    assert.match(prom, /^\s+image: prom\/prometheus:/m);
    assert.match(prom, /^\s+- "127\.0\.0\.1:9090:9090"$/m);
    const mount = /^\s+- (\.\/[^:]+):\/etc\/prometheus\/prometheus\.yml:ro$/m.exec(prom);
    assert.ok(mount, 'prometheus mounts its config read-only');
    assert.equal(path.resolve(ROOT, mount[1]!), FILES.prometheus);

    // Prometheus scrapes the client's FQDN through the compose proxy.
    const cfg = read(FILES.prometheus);
    assert.match(cfg, /^\s+proxy_url: http:\/\/proxy:8080\/$/m);
    assert.match(cfg, /targets: \['node-exporter:9100'\]/);

    // clients-sd writes the file_sd file Prometheus reads, through a shared volume.
    const sdFile = /^\s+- files: \[([^\]]+)\]$/m.exec(cfg)?.[1];
    assert.ok(sdFile, 'prometheus.yml has a file_sd job');
    const sdDir = path.posix.dirname(sdFile);
    assert.match(prom, new RegExp(`^\\s+- pushprox-sd:${sdDir}:ro$`, 'm'));
    assert.match(composeService('clients-sd'), new RegExp(`^\\s+- pushprox-sd:${sdDir}$`, 'm'));
    assert.ok(composeCommand('clients-sd').join(' ').includes(`&& mv ${sdFile}.tmp ${sdFile};`));
  });
});

describe('flags in the deployment files exist in the programs', () => {
  const sources: Array<{ what: string; bin: string; args: () => string[][] }> = [
    { what: 'docker-compose.yml proxy command', bin: PROXY_BIN, args: () => [composeCommand('proxy')] },
    { what: 'docker-compose.yml client command', bin: CLIENT_BIN, args: () => [composeCommand('client')] },
    {
      what: 'pushprox-proxy.service ExecStart',
      bin: PROXY_BIN,
      args: () => parseUnit(FILES.proxyUnit).get('Service', 'ExecStart').map((l) => l.split(/\s+/)),
    },
    {
      what: 'pushprox-client.service ExecStart',
      bin: CLIENT_BIN,
      args: () => parseUnit(FILES.clientUnit).get('Service', 'ExecStart').map((l) => l.split(/\s+/)),
    },
    { what: 'pushprox-proxy.default ARGS', bin: PROXY_BIN, args: () => argsLines(FILES.proxyDefault, true) },
    { what: 'pushprox-client.default ARGS', bin: CLIENT_BIN, args: () => argsLines(FILES.clientDefault, true) },
  ];
  for (const s of sources) {
    test(s.what, async () => {
      const lines = s.args();
      assert.ok(lines.length > 0, `no command line found in ${s.what}`);
      const known = await helpFlags(s.bin);
      const unknown = lines.flatMap(flagsIn).filter((f) => !known.has(f));
      assert.deepEqual(unknown, [], `flags unknown to ${path.basename(s.bin)}: ${unknown.join(', ')}`);
    });
  }

  test('the default files set flags, and the client one sets the required --proxy-url', () => {
    const proxyArgs = argsLines(FILES.proxyDefault, false);
    const clientArgs = argsLines(FILES.clientDefault, false);
    assert.equal(proxyArgs.length, 1, 'exactly one active ARGS= line');
    assert.equal(clientArgs.length, 1, 'exactly one active ARGS= line');
    assert.ok(flagsIn(clientArgs[0]!).includes('proxy-url'));
    assert.ok(flagsIn(proxyArgs[0]!).includes('web.listen-address'));
  });
});

describe('the programs run with the deployment files\' arguments', () => {
  let proxy: Proc;
  let proxyUrl: string;
  const clients: Proc[] = [];
  let sdDir: string;

  /** The proxy's ARGS from the default file, listening on a free loopback port instead. */
  before(async () => {
    sdDir = mkdtempSync(path.join(tmpdir(), 'pushprox-deploy-'));
    const args = argsLines(FILES.proxyDefault, false)[0] ?? [];
    proxy = new Proc('pushprox-proxy', process.execPath, [PROXY_BIN, ...withFlags(args, ['--web.listen-address=127.0.0.1:0'])], { cwd: ROOT });
    const m = await proxy.waitFor(/msg=Listening address=127\.0\.0\.1:(\d+)/);
    proxyUrl = `http://127.0.0.1:${m[1]}`;
  });

  after(async () => {
    await killAll();
    if (sdDir) rmSync(sdDir, { recursive: true, force: true });
  });

  test('the client starts with pushprox-client.default\'s ARGS and registers', async () => {
    const args = argsLines(FILES.clientDefault, false)[0] ?? [];
    const c = new Proc('pushprox-client (default file)', process.execPath, [
      CLIENT_BIN,
      // The test proxy, without a metrics port or a DNS lookup of this host's name.
      ...withFlags(args, [`--proxy-url=${proxyUrl}/`, '--metrics-addr=', '--fqdn=deploy-test.invalid']),
    ], { cwd: ROOT });
    clients.push(c);
    await waitRegistered(proxyUrl, 'deploy-test.invalid', { client: c, timeoutMs: 10_000 });
  });

  test('the client starts with docker-compose.yml\'s command and registers as node-exporter', async () => {
    const cmd = composeCommand('client');
    const fqdn = cmd.find((a) => a.startsWith('--fqdn='))?.slice('--fqdn='.length);
    assert.equal(fqdn, 'node-exporter');
    const c = new Proc('pushprox-client (compose)', process.execPath, [CLIENT_BIN, ...withFlags(cmd, [`--proxy-url=${proxyUrl}/`, '--metrics-addr='])], { cwd: ROOT });
    clients.push(c);
    await waitRegistered(proxyUrl, fqdn, { client: c, timeoutMs: 10_000 });
  });

  test('the cron line copies /clients into the file_sd file atomically', async (t) => {
    const wget = tool(t, 'wget', 'wget');
    if (!wget) return;
    const lines = read(FILES.cron)
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#') && !/^[A-Z_]+=/.test(l));
    assert.equal(lines.length, 1, 'one cron line');
    // /etc/cron.d format: five time fields, the user, the command.
    const m = /^(\S+ \S+ \S+ \S+ \S+) (\S+) (.+)$/.exec(lines[0]!);
    assert.ok(m, `not a cron.d line: ${lines[0]}`);
    assert.equal(m[1], '* * * * *');
    assert.equal(m[2], 'prometheus');
    const sdFile = /^\s+- files: \[([^\]]+)\]$/m.exec(read(FILES.prometheus))?.[1];
    assert.ok(sdFile && m[3]!.includes(`-O ${sdFile}.tmp `) && m[3]!.endsWith(`&& mv ${sdFile}.tmp ${sdFile}`), m[3]);

    const command = m[3]!
      .replaceAll('http://pushprox-proxy:8080/', `${proxyUrl}/`)
      .replaceAll(path.posix.dirname(sdFile), sdDir);
    assert.notEqual(command, m[3]);
    const r = await run('/bin/sh', ['-c', command], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    const written = path.join(sdDir, path.posix.basename(sdFile));
    assert.ok(!existsSync(`${written}.tmp`), 'the temporary file was renamed');
    const groups = JSON.parse(read(written)) as Array<{ targets: string[]; labels: object }>;
    assert.deepEqual(groups, JSON.parse(await getText(`${proxyUrl}/clients`)));
    const targets = groups.flatMap((g) => g.targets);
    assert.ok(targets.includes('node-exporter') && targets.includes('deploy-test.invalid'), targets.join(','));

    // A failing fetch leaves the last good file in place.
    const down = command.replaceAll(`${proxyUrl}/`, 'http://127.0.0.1:1/');
    const r2 = await run('/bin/sh', ['-c', down], { timeoutMs: 20_000 });
    assert.notEqual(r2.code, 0);
    assert.deepEqual(JSON.parse(read(written)), groups);
  });

  test('one round of docker-compose.yml\'s clients-sd loop does the same', async (t) => {
    const wget = tool(t, 'wget', 'wget');
    if (!wget) return;
    const [sh, c, script] = composeCommand('clients-sd');
    assert.deepEqual([sh, c], ['sh', '-c']);
    const body = /^while :; do (.+); sleep \d+; done$/.exec(script ?? '')?.[1];
    assert.ok(body, `unexpected loop: ${script}`);
    const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-deploy-sd-'));
    try {
      const r = await run('/bin/sh', ['-c', body.replaceAll('http://proxy:8080/', `${proxyUrl}/`).replaceAll('/etc/prometheus/pushprox', dir)], {
        timeoutMs: 20_000,
      });
      assert.equal(r.code, 0, r.stderr);
      const groups = JSON.parse(read(path.join(dir, 'clients.json'))) as Array<{ targets: string[] }>;
      assert.ok(groups.some((g) => g.targets.includes('node-exporter')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('promtool discovers the clients from that file and relabels them to <fqdn>:9100', async (t) => {
    const promtool = tool(t, 'promtool', 'prometheus');
    if (!promtool) return;
    // What the cron line writes (checked above), fetched here so this test stands alone.
    const written = path.join(sdDir, 'promtool-clients.json');
    writeFileSync(written, await getText(`${proxyUrl}/clients`));
    const cfg = path.join(sdDir, 'prometheus.yml');
    writeFileSync(cfg, read(FILES.prometheus).replaceAll('/etc/prometheus/pushprox/clients.json', written));
    const r = await run(promtool, ['check', 'service-discovery', '--timeout=5s', cfg, 'node-via-pushprox'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    const found = JSON.parse(r.stdout) as Array<{ labels: Record<string, string> }>;
    assert.deepEqual(found.map((f) => f.labels['__address__']).sort(), ['deploy-test.invalid:9100', 'node-exporter:9100']);
    for (const f of found) assert.equal(f.labels['__scheme__'], 'http');
  });

  test('both programs exit 0 on SIGTERM', async () => {
    assert.ok(clients.length > 0);
    for (const c of clients) assert.equal((await c.stop('SIGTERM')).code, 0, c.output);
    assert.equal((await proxy.stop('SIGTERM')).code, 0, proxy.output);
  });
});

describe('examples/prometheus/prometheus.yml', () => {
  test('promtool check config accepts it', async (t) => {
    const promtool = tool(t, 'promtool', 'prometheus');
    if (!promtool) return;
    const r = await run(promtool, ['check', 'config', FILES.prometheus], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);

    // With the file_sd file present, promtool has nothing at all to warn about.
    const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-deploy-prom-'));
    try {
      writeFileSync(path.join(dir, 'clients.json'), '[]');
      const cfg = path.join(dir, 'prometheus.yml');
      writeFileSync(cfg, read(FILES.prometheus).replaceAll('/etc/prometheus/pushprox/clients.json', path.join(dir, 'clients.json')));
      const r2 = await run(promtool, ['check', 'config', cfg], { timeoutMs: 30_000 });
      assert.equal(r2.code, 0, r2.stdout + r2.stderr);
      assert.doesNotMatch(r2.stdout + r2.stderr, /WARN/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the commented-out HTTPS job is valid and sends _scheme=https', async (t) => {
    const promtool = tool(t, 'promtool', 'prometheus');
    if (!promtool) return;
    const lines = read(FILES.prometheus).split('\n');
    const start = lines.findIndex((l) => /^  # - job_name: node-https$/.test(l));
    assert.ok(start >= 0, 'a commented-out job node-https');
    const job: string[] = [];
    for (const l of lines.slice(start)) {
      if (!l.startsWith('  # ')) break;
      job.push(`  ${l.slice(4)}`);
    }
    assert.ok(job.some((l) => /^\s+_scheme: \[https\]$/.test(l)), job.join('\n'));
    assert.ok(job.some((l) => /^\s+scheme: http$/.test(l)), job.join('\n'));
    const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-deploy-prom-'));
    try {
      const cfg = path.join(dir, 'prometheus.yml');
      writeFileSync(cfg, `${read(FILES.prometheus).trimEnd()}\n${job.join('\n')}\n`);
      const r = await run(promtool, ['check', 'config', cfg], { timeoutMs: 30_000 });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const sd = await run(promtool, ['check', 'service-discovery', '--timeout=5s', cfg, 'node-https'], { timeoutMs: 30_000 });
      assert.equal(sd.code, 0, sd.stderr);
      const found = JSON.parse(sd.stdout) as Array<{ labels: Record<string, string> }>;
      assert.equal(found.length, 1);
      assert.equal(found[0]!.labels['__param__scheme'], 'https');
      assert.equal(found[0]!.labels['__scheme__'], 'http');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('examples/systemd', () => {
  const units = [
    { unit: FILES.proxyUnit, defaults: FILES.proxyDefault, bin: PROXY_BIN, name: 'pushprox-proxy' },
    { unit: FILES.clientUnit, defaults: FILES.clientDefault, bin: CLIENT_BIN, name: 'pushprox-client' },
  ];

  test('systemd-analyze verify reports nothing about the units', async (t) => {
    const sa = tool(t, 'systemd-analyze', 'systemd');
    if (!sa) return;
    const r = await run(sa, ['verify', ...units.map((u) => u.unit), FILES.proxySocket], { timeoutMs: 30_000 });
    // Unknown keys and bad values are only warnings (exit 0): any line about our units fails.
    const ours = (r.stdout + r.stderr).split('\n').filter((l) => l.includes('pushprox-'));
    assert.deepEqual(ours, []);
    assert.equal(r.code, 0, r.stderr);
  });

  test('systemd-analyze security rates the units well hardened', async (t) => {
    const sa = tool(t, 'systemd-analyze', 'systemd');
    if (!sa) return;
    for (const u of units) {
      // Exposure is 0.0 (locked down) to 10.0 (unprotected); --threshold counts tenths.
      const r = await run(sa, ['security', '--offline=yes', '--threshold=20', '--no-pager', u.unit], { timeoutMs: 30_000 });
      assert.equal(r.code, 0, `${u.name}: exposure above 2.0\n${r.stdout.split('\n').slice(-3).join('\n')}${r.stderr}`);
      assert.match(r.stdout, /Overall exposure level for pushprox-\w+\.service: [01]\.\d/);
    }
  });

  for (const u of units) {
    test(`${u.name}.service has the required settings`, () => {
      const unit = parseUnit(u.unit);
      const svc = (k: string) => unit.one('Service', k);
      assert.ok(svc('DynamicUser') === 'yes' || (svc('User') ?? '') !== '', 'DynamicUser=yes or User=');
      assert.equal(svc('NoNewPrivileges'), 'yes');
      assert.equal(svc('ProtectSystem'), 'strict');
      assert.ok(['yes', 'read-only', 'tmpfs'].includes(svc('ProtectHome') ?? ''), 'ProtectHome');
      assert.equal(svc('PrivateTmp'), 'yes');
      assert.deepEqual((svc('RestrictAddressFamilies') ?? '').split(/\s+/).sort(), ['AF_INET', 'AF_INET6', 'AF_UNIX']);
      assert.equal(svc('Restart'), 'on-failure');
      assert.equal(svc('RestartSec'), '5s');
      assert.equal(svc('KillSignal'), 'SIGTERM');
      assert.equal(svc('TimeoutStopSec'), '30s');
      assert.ok(unit.get('Service', 'Environment').includes('MALLOC_ARENA_MAX=2'), 'Environment=MALLOC_ARENA_MAX=2');
      // V8 JIT-compiles into memory it writes and executes: this setting kills node.
      assert.notEqual(svc('MemoryDenyWriteExecute'), 'yes');
      assert.equal(unit.one('Install', 'WantedBy'), 'multi-user.target');

      const envFile = svc('EnvironmentFile') ?? '';
      assert.equal(envFile.replace(/^-/, ''), `/etc/default/${u.name}`);
      const exec = (svc('ExecStart') ?? '').split(/\s+/);
      assert.equal(exec[0], '/usr/bin/node');
      const rel = path.relative(ROOT, u.bin);
      assert.equal(exec[1], `/opt/pushprox/${rel}`);
      assert.ok(existsSync(path.join(ROOT, rel)));
      // `$ARGS` (not `${ARGS}`): systemd splits it into one argument per word.
      assert.equal(exec[2], '$ARGS');

      // Stopping waits for --shutdown.timeout; systemd must not SIGKILL first.
      const args = argsLines(u.defaults, false)[0] ?? [];
      const shutdown = args.find((a) => a.startsWith('--shutdown.timeout='))?.split('=')[1] ?? '10s';
      assert.ok(seconds(svc('TimeoutStopSec')!) > seconds(shutdown), 'TimeoutStopSec above --shutdown.timeout');
    });
  }

  test('SystemCallFilter allows every system call both programs make', async (t) => {
    const sa = tool(t, 'systemd-analyze', 'systemd');
    const strace = sa && tool(t, 'strace', 'strace');
    if (!sa || !strace) return;
    // The groups (@system-service, ...) as this systemd defines them.
    const listing = await run(sa, ['syscall-filter', '--no-pager'], { timeoutMs: 30_000 });
    assert.equal(listing.code, 0, listing.stderr);
    const groups = new Map<string, string[]>();
    let current: string[] | undefined;
    for (const line of listing.stdout.split('\n')) {
      if (/^@\S+$/.test(line)) groups.set(line, (current = []));
      else if (current && /^\s+[@a-z0-9_-]+$/.test(line)) current.push(line.trim());
    }
    assert.ok(groups.has('@system-service'), 'systemd-analyze syscall-filter lists @system-service');
    const expand = (names: readonly string[]): Set<string> => {
      const out = new Set<string>();
      for (const n of names) {
        if (!n.startsWith('@')) out.add(n);
        else for (const x of expand(groups.get(n) ?? assert.fail(`unknown group ${n}`))) out.add(x);
      }
      return out;
    };

    const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-deploy-strace-'));
    try {
      // One life of each program: start, register, one scrape through the proxy, SIGTERM.
      const traced = (name: string) => ['-f', '-qq', '-o', path.join(dir, name)];
      const proxy = new Proc('pushprox-proxy (strace)', process.execPath, [PROXY_BIN, '--web.listen-address=127.0.0.1:0'], { wrapper: [strace, ...traced('proxy')], cwd: ROOT });
      const port = Number((await proxy.waitFor(/msg=Listening address=127\.0\.0\.1:(\d+)/, 20_000))[1]);
      const client = new Proc(
        'pushprox-client (strace)',
        process.execPath,
        [CLIENT_BIN, `--proxy-url=http://127.0.0.1:${port}/`, '--fqdn=127.0.0.1', '--metrics-addr=127.0.0.1:0'],
        { wrapper: [strace, ...traced('client')], cwd: ROOT },
      );
      await waitRegistered(`http://127.0.0.1:${port}`, '127.0.0.1', { client, timeoutMs: 20_000 });
      const scraped = await run(
        process.execPath,
        [
          '-e',
          `const r = require('node:http').get({ host: '127.0.0.1', port: ${port}, path: 'http://127.0.0.1:${port}/metrics',` +
            ` headers: { 'X-Prometheus-Scrape-Timeout-Seconds': '5' } }, (res) => { res.resume(); res.on('end', () => process.exit(res.statusCode === 200 ? 0 : 1)); });` +
            ` r.on('error', () => process.exit(2));`,
        ],
        { timeoutMs: 15_000 },
      );
      assert.equal(scraped.code, 0, 'a scrape through the proxy succeeded');
      assert.equal((await client.stop('SIGTERM')).code, 0, client.output);
      assert.equal((await proxy.stop('SIGTERM')).code, 0, proxy.output);

      for (const u of units) {
        const filters = parseUnit(u.unit).get('Service', 'SystemCallFilter');
        assert.ok(filters.length > 0 && !filters[0]!.startsWith('~'), 'SystemCallFilter starts with an allow-list');
        const allowed = expand(filters.filter((f) => !f.startsWith('~')).flatMap((f) => f.split(/\s+/)));
        for (const x of expand(filters.filter((f) => f.startsWith('~')).flatMap((f) => f.slice(1).split(/\s+/)))) allowed.delete(x);
        const trace = read(path.join(dir, u.name === 'pushprox-proxy' ? 'proxy' : 'client'));
        const used = new Set([...trace.matchAll(/^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)\(/gm)].map((m) => m[1]!));
        assert.ok(used.size > 20, `strace recorded ${used.size} system calls`);
        const denied = [...used].filter((c) => !allowed.has(c)).sort();
        assert.deepEqual(denied, [], `${u.name}.service would refuse these system calls`);
        // ... and every socket family it opens.
        const families = new Set((parseUnit(u.unit).one('Service', 'RestrictAddressFamilies') ?? '').split(/\s+/));
        const opened = new Set([...trace.matchAll(/\bsocket\((AF_\w+)/g)].map((m) => m[1]!));
        assert.ok(opened.has('AF_INET'), 'strace saw the TCP sockets');
        assert.deepEqual([...opened].filter((f) => !families.has(f)), [], `${u.name}.service would refuse these socket families`);
      }
    } finally {
      await killAll();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the default files are what sh and systemd read the same way', async () => {
    for (const u of units) {
      const r = await run('/bin/sh', ['-c', '. "$1" && printf %s "$ARGS"', 'sh', u.defaults]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.split(/\s+/).filter((a) => a !== ''), argsLines(u.defaults, false)[0]);
    }
  });
});

describe('Dockerfile', () => {
  // No Docker engine is available where these tests run, so the image is never
  // built here: this checks the file's structure against the repository.
  interface Instr {
    readonly op: string;
    readonly args: string;
  }
  interface Stage {
    readonly name: string;
    readonly from: string;
    readonly instrs: Instr[];
  }

  function parseDockerfile(): { args: Map<string, string>; stages: Stage[] } {
    const joined = read(FILES.dockerfile)
      .split('\n')
      .filter((l) => !/^\s*#/.test(l))
      .join('\n')
      .replace(/\\\n/g, ' ');
    const args = new Map<string, string>();
    const stages: Stage[] = [];
    for (const line of joined.split('\n')) {
      const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
      if (!m) continue;
      const op = m[1]!.toUpperCase();
      const rest = m[2]!.trim();
      if (op === 'FROM') {
        const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
        assert.ok(f, `FROM ${rest}`);
        const from = f[1]!.replace(/^\$\{?(\w+)\}?$/, (_, v: string) => args.get(v) ?? `$${v}`);
        stages.push({ name: f[2] ?? String(stages.length), from, instrs: [] });
      } else if (op === 'ARG' && stages.length === 0) {
        const a = /^(\w+)=(\S+)$/.exec(rest);
        if (a) args.set(a[1]!, a[2]!);
      } else {
        assert.ok(stages.length > 0, `${op} before FROM`);
        stages.at(-1)!.instrs.push({ op, args: rest });
      }
    }
    return { args, stages };
  }

  const { stages } = parseDockerfile();
  const stage = (name: string): Stage => {
    const s = stages.find((x) => x.name === name);
    assert.ok(s, `no stage ${name}`);
    return s;
  };
  /** The stage and the stages it is built FROM, nearest first. */
  const chain = (name: string): Stage[] => {
    const out: Stage[] = [];
    for (let s: Stage | undefined = stage(name); s; s = stages.find((x) => x.name === s!.from)) out.push(s);
    return out;
  };
  const last = (name: string, op: string): string | undefined => {
    for (const s of chain(name)) {
      const i = s.instrs.filter((x) => x.op === op).at(-1);
      if (i) return i.args;
    }
    return undefined;
  };
  const copies = (name: string) =>
    chain(name).flatMap((s) =>
      s.instrs
        .filter((i) => i.op === 'COPY')
        .map((i) => {
          const words = i.args.split(/\s+/);
          const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
          const paths = words.filter((w) => !w.startsWith('--'));
          return { stage: s.name, from, srcs: paths.slice(0, -1), dest: paths.at(-1)! };
        }),
    );

  const targets = [
    { target: 'proxy', program: 'pushprox-proxy', port: '8080' },
    { target: 'client', program: 'pushprox-client', port: '9369' },
  ];

  for (const t of targets) {
    test(`target ${t.target}: debian:bookworm-slim, user pushprox, entrypoint, port, stop signal`, () => {
      const c = chain(t.target);
      assert.equal(c.at(-1)!.from, 'debian:bookworm-slim');
      assert.equal(last(t.target, 'USER'), 'pushprox');
      const runs = c.flatMap((s) => s.instrs.filter((i) => i.op === 'RUN').map((i) => i.args));
      assert.ok(runs.some((r) => /^useradd --system .*\bpushprox$/.test(r)), `a system user pushprox is created: ${JSON.stringify(runs)}`);
      assert.deepEqual(JSON.parse(last(t.target, 'ENTRYPOINT') ?? 'null'), [`/usr/bin/${t.program}`]);
      assert.equal(last(t.target, 'EXPOSE'), t.port);
      assert.equal(last(t.target, 'STOPSIGNAL'), 'SIGTERM');
      const env = c.flatMap((s) => s.instrs.filter((i) => i.op === 'ENV').map((i) => i.args));
      assert.ok(env.includes('MALLOC_ARENA_MAX=2'), `ENV MALLOC_ARENA_MAX=2 in ${JSON.stringify(env)}`);
    });

    test(`target ${t.target}: the release's single executable, root-owned, and nothing else`, () => {
      const cp = copies(t.target).map((c) => ({ from: c.from, srcs: c.srcs, dest: c.dest }));
      assert.deepEqual(cp, [{ from: undefined, srcs: [`release/${t.program}`], dest: `/usr/bin/${t.program}` }]);
      const copyArgs = chain(t.target).flatMap((s) => s.instrs.filter((i) => i.op === 'COPY').map((i) => i.args));
      assert.ok(!copyArgs.some((a) => a.includes('--chown')), 'the program cannot change its own executable');
    });
  }

  test('the executables it copies are the ones npm run release builds', async () => {
    const pkg = JSON.parse(read(path.join(ROOT, 'package.json'))) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts['release'], 'node scripts/release/build.mjs');
    const bundle = (await import(pathToFileURL(path.join(ROOT, 'scripts/release/bundle.mjs')).href)) as { PROGRAMS: object };
    assert.deepEqual(Object.keys(bundle.PROGRAMS).sort(), targets.map((t) => t.program).sort());
  });

  test('.dockerignore sends the two executables and nothing else of the repository', () => {
    const lines = read(FILES.dockerignore)
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    assert.deepEqual(lines, ['*', ...targets.map((t) => `!release/${t.program}`)]);
  });
});
