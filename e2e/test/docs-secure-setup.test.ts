import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireBinaries } from '../src/binaries.js';
import { startNodeExporter } from '../src/node-exporter.js';
import { freePort } from '../src/ports.js';
import { Prometheus } from '../src/prometheus.js';
import { killAll } from '../src/procs.js';

/**
 * docs/security.md "Secure setup in five minutes", run as written: the
 * page's PATH step runs in the repository (as a reader of a fresh clone runs
 * it), the shell blocks go to bash with the PATH it set, and the YAML block
 * to a real Prometheus. Only host names, ports and directories are changed
 * (substitute()), and the two placeholders are filled by the commands the page
 * names for them. Long-running programs (a line that starts pushprox-proxy or
 * pushprox-client without a subcommand; the page says to leave them running)
 * are started in the background and stopped by PID.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PAGE = path.join(ROOT, 'docs', 'security.md');
/** The name the page enrolls and runs the client under (its --fqdn). */
const FQDN = 'host-a.example.com';

interface Block {
  readonly lang: string;
  readonly text: string;
}

const blocksOf = (text: string): Block[] => [...text.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, text: m[2]! }));

/** The page's blocks before the walkthrough (the PATH step), and the walkthrough's. */
function page(): { readonly before: Block[]; readonly section: Block[] } {
  const doc = readFileSync(PAGE, 'utf8');
  const start = doc.indexOf('\n## Secure setup in five minutes\n');
  assert.ok(start >= 0, 'docs/security.md has a "Secure setup in five minutes" section');
  const end = doc.indexOf('\n## ', start + 5);
  return { before: blocksOf(doc.slice(0, start)), section: blocksOf(doc.slice(start, end < 0 ? undefined : end)) };
}

const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-docs-security-'));
const pids: number[] = [];
after(async () => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
  await killAll();
  rmSync(dir, { recursive: true, force: true });
});

function substitute(text: string, proxyPort: number, exporterPort: number): string {
  const pairs: Array<[string, string]> = [
    // Placeholders, filled by the commands the page names for them.
    ['<token from /etc/pushprox/enroll-tokens>', "$(cut -d' ' -f1 /etc/pushprox/enroll-tokens)"],
    ['<CA fingerprint>', '$(openssl x509 -in /etc/pushprox/pki/ca.crt -noout -fingerprint -sha256 | cut -d= -f2)'],
    // Where things live, and how hosts are named and reached.
    ['/etc/pushprox', path.join(dir, 'etc-pushprox')],
    ['/var/lib/pushprox-client', path.join(dir, 'client')],
    ['/etc/prometheus', path.join(dir, 'prometheus')],
    ['proxy.example.com', 'localhost'],
    [':8080', `:${proxyPort}`],
    ['9100', String(exporterPort)],
  ];
  return pairs.reduce((s, [from, to]) => s.split(from).join(to), text);
}

/** Backgrounds the long-running programs, recording their PIDs; everything else runs in order. */
function script(block: string, logs: string): string {
  const lines = block.replace(/\\\n\s*/g, '').split('\n');
  return [
    'set -euo pipefail',
    ...lines.map((line) =>
      /^(pushprox-proxy|pushprox-client) --/.test(line)
        ? `( exec ${line} ) >>${logs}/${line.split(' ')[0]}.log 2>&1 & echo $! >>${logs}/pids`
        : line,
    ),
  ].join('\n');
}

/** The PATH the page's PATH step sets; every block runs with it. */
let PATH = process.env['PATH'] ?? '';

function bash(text: string, timeoutMs = 60_000, cwd = dir): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', ['-c', text], {
      cwd,
      env: { ...process.env, PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`bash did not finish within ${timeoutMs} ms:\n${text}\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function readPids(logs: string): void {
  const file = path.join(logs, 'pids');
  if (!existsSync(file)) return;
  for (const pid of readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number)) if (!pids.includes(pid)) pids.push(pid);
}

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms (last: ${String(last)})`);
}

test('docs/security.md "Secure setup in five minutes": the commands work as written', async (t) => {
  if (!requireBinaries(t, 'openssl', 'htpasswd', 'wget', 'curl', 'nodeExporter', 'prometheus')) return;
  const { before, section } = page();
  assert.deepEqual(before.map((b) => b.lang), ['sh'], 'the page starts with the step that puts the programs on PATH');
  assert.deepEqual(
    section.map((b) => b.lang),
    ['sh', 'sh', 'sh', 'sh', 'sh', 'yaml'],
    'the section has the proxy host (files, then the proxy), client host (enroll, then the client) and Prometheus-host shell blocks and the prometheus.yml job',
  );
  const [proxyFiles, proxyRun, enroll, clientRun, promHost, yaml] = section as [Block, Block, Block, Block, Block, Block];
  // The PATH step, run where the page says: in the clone, after npm ci.
  PATH = process.env['PATH'] ?? '';
  const pathStep = await bash(`set -eu\n${before[0]!.text}\nprintf %s "$PATH"`, 10_000, ROOT);
  assert.equal(pathStep.code, 0, pathStep.stderr);
  PATH = pathStep.stdout;
  const which = await bash('command -v pushprox-proxy && command -v pushprox-client');
  assert.equal(which.code, 0, `the PATH step puts both programs on PATH: ${which.stdout}${which.stderr}`);
  const proxyPort = await freePort();
  const exporterPort = await freePort();
  const logs = path.join(dir, 'logs');
  mkdirSync(logs);
  const sub = (s: string) => substitute(s, proxyPort, exporterPort);
  const log = (name: string) => {
    const f = path.join(logs, `${name}.log`);
    return existsSync(f) ? readFileSync(f, 'utf8') : '(no log)';
  };
  await startNodeExporter('127.0.0.1', exporterPort);

  // 1. The proxy host: its files, then the proxy (left running).
  const one = await bash(script(sub(proxyFiles.text), logs));
  assert.equal(one.code, 0, `proxy host block failed: ${one.stderr}`);
  const run = await bash(script(sub(proxyRun.text), logs));
  readPids(logs);
  assert.equal(run.code, 0, `starting the proxy failed: ${run.stderr}`);
  assert.match(one.stdout, /fingerprint/i, 'pki init prints the CA fingerprint');
  const etc = path.join(dir, 'etc-pushprox');
  assert.equal(statSync(path.join(etc, 'enroll-tokens')).mode & 0o777, 0o600);
  assert.equal(statSync(path.join(etc, 'pki', 'ca.key')).mode & 0o777, 0o600);
  await until('the proxy listens', 20_000, async () => (/Listening/.test(log('pushprox-proxy')) ? true : undefined));

  // 2. The client host: enrollment, then the client with its certificate (left running).
  const two = await bash(script(`${sub(enroll.text)}\n${sub(clientRun.text)}`, logs));
  readPids(logs);
  assert.equal(two.code, 0, `client host block failed: ${two.stderr}\n${two.stdout}\nproxy log: ${log('pushprox-proxy')}`);
  const clientDir = path.join(dir, 'client');
  assert.equal(statSync(path.join(clientDir, 'client.key')).mode & 0o777, 0o600, 'the private key is private');
  const token = readFileSync(path.join(etc, 'enroll-tokens'), 'utf8').split(' ')[0]!;
  assert.ok(!readFileSync(path.join(clientDir, 'client.key'), 'utf8').includes(token));

  // 3. The Prometheus host: the CA copied, the client list fetched with the password, a scrape through the proxy.
  mkdirSync(path.join(dir, 'prometheus'));
  copyFileSync(path.join(etc, 'pki', 'ca.crt'), path.join(dir, 'prometheus', 'pushprox-ca.crt'));
  const listed = (): Array<{ targets: string[] }> =>
    JSON.parse(readFileSync(path.join(dir, 'prometheus', 'pushprox.json'), 'utf8')) as Array<{ targets: string[] }>;
  // Both conditions in one round: the client may register between the block's
  // wget of /clients (empty list) and its scrape (which then works).
  const three = await until('the client list names the client and a scrape through the proxy works', 20_000, async () => {
    const r = await bash(sub(promHost.text), 20_000);
    return r.code === 0 && listed().some((e) => e.targets.includes(FQDN)) ? r : undefined;
  }).catch((err: Error) => {
    throw new Error(`${err.message}\nproxy log: ${log('pushprox-proxy')}\nclient log: ${log('pushprox-client')}`);
  });
  assert.match(three.stdout, /^node_exporter_build_info\{/m);
  assert.deepEqual(listed().map((e) => e.targets), [[FQDN]]);

  // The bootstrap token was single-use: a second enrollment with it is refused.
  const again = await bash(script(sub(enroll.text).replace('--tls.dir=', '--enroll.force --tls.dir='), logs));
  assert.notEqual(again.code, 0, 'a used single-use token cannot enroll again');
  assert.match(again.stderr, /answered 401/, again.stderr);

  // And Prometheus with the page's job: up through the TLS proxy with its password.
  const config = `global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n${sub(yaml.text)}`;
  const prom = await Prometheus.start(config);
  try {
    const { value: target } = await prom.waitHealth(FQDN, 'up', 30_000);
    assert.equal(target.labels['job'], 'node');
    const samples = await prom.query(`scrape_samples_scraped{job="node"}`);
    assert.ok((samples[0]?.value ?? 0) > 100, `node_exporter's samples arrived: ${JSON.stringify(samples)}`);
  } finally {
    await prom.stop();
  }
});
