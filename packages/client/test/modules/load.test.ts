import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadModuleSet } from '../../src/modules/load.js';
import { parseIni } from '../../src/modules/load-ini.js';
import { moduleMeta } from '../../src/modules/types.js';
import { matchModuleRoute, onVirtualHost } from '../../src/modules/route.js';

async function tmp(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pushprox-modules-'));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
  return dir;
}

const EXPEXP = `
defaultModule: node
modules:
  node:
    method: http
    timeout: 5s
    http:
      port: 9100
  secure:
    method: http
    http:
      port: 9443
      scheme: https
      address: 10.0.0.5
      path: /probe?x=1
      verify: false
      headers: { X-Site: a }
      basic_auth_username: u
      basic_auth_password: p
      tls_insecure_skip_verify: true
  script:
    method: exec
    exec:
      command: /bin/echo
      args: ["a", 1]
      env: { THING: "1" }
  textfile:
    method: file
    file:
      path: /var/lib/metrics.prom
`;

test('exporter_exporter YAML: every module kind and field is read with its defaults', async () => {
  const dir = await tmp({ 'expexp.yaml': EXPEXP });
  const set = await loadModuleSet({ files: [path.join(dir, 'expexp.yaml')], dirs: [] });
  assert.equal(set.defaultModule, 'node');
  const node = set.modules.get('node')!;
  assert.equal(node.method, 'http');
  assert.ok(node.method === 'http');
  assert.deepEqual([node.scheme, node.address, node.port, node.path, node.verify, node.timeoutMs], ['http', 'localhost', 9100, '/metrics', true, 5000]);
  const secure = set.modules.get('secure')!;
  assert.ok(secure.method === 'http');
  assert.deepEqual([secure.scheme, secure.address, secure.path, secure.verify], ['https', '10.0.0.5', '/probe?x=1', false]);
  assert.deepEqual(secure.headers, ['X-Site', 'a']);
  assert.deepEqual(secure.basicAuth, { username: 'u', password: 'p' });
  assert.equal(secure.tls.insecureSkipVerify, true);
  const script = set.modules.get('script')!;
  assert.ok(script.method === 'exec');
  assert.deepEqual(script.args, ['a', '1']);
  assert.deepEqual(script.env, { THING: '1' });
  assert.equal(set.modules.get('textfile')!.method, 'file');
  assert.deepEqual(moduleMeta(set), [
    { name: 'node', style: 'expexp' },
    { name: 'script', style: 'expexp' },
    { name: 'secure', style: 'expexp' },
    { name: 'textfile', style: 'expexp' },
  ]);
});

test('unknown fields are an error that names them, at every level', async () => {
  const cases: Array<[string, RegExp]> = [
    ['modules: {}\nextra: 1\n', /unknown top-level configuration fields: extra/],
    ['modules:\n  a:\n    method: http\n    colour: red\n    http: { port: 1 }\n', /module a: unknown module configuration fields: colour/],
    ['modules:\n  a:\n    method: http\n    http: { port: 1, prot: 2 }\n', /module a: unknown http configuration fields: prot/],
    ['modules:\n  a:\n    method: exec\n    exec: { command: x, shell: true }\n', /unknown exec configuration fields: shell/],
    ['modules:\n  a:\n    method: ftp\n', /unknown module method: "ftp"/],
    ['modules:\n  a:\n    method: http\n    http: {}\n', /must have a non-zero port/],
  ];
  for (const [text, re] of cases) {
    const dir = await tmp({ 'c.yaml': text });
    await assert.rejects(loadModuleSet({ files: [path.join(dir, 'c.yaml')], dirs: [] }), re, text);
  }
});

test('a module name with path characters is refused', async () => {
  for (const name of ['../etc', 'a/b', 'a b', '.hidden', 'x?y']) {
    const dir = await tmp({ 'c.yaml': `modules:\n  ${JSON.stringify(name)}:\n    method: file\n    file: { path: /x }\n` });
    await assert.rejects(loadModuleSet({ files: [path.join(dir, 'c.yaml')], dirs: [] }), /module name .* is not allowed/, name);
  }
  const dir = await tmp({ 'd/a b.yaml': 'method: file\nfile: { path: /x }\n' });
  await assert.rejects(loadModuleSet({ files: [], dirs: [path.join(dir, 'd')] }), /module name "a b" is not allowed/);
});

test('a duplicate module is an error: twice in one file, in a file and a directory, twice in an .ini', async () => {
  const dir = await tmp({
    'dup.yaml': 'modules:\n  a: { method: file, file: { path: /x } }\n  a: { method: file, file: { path: /y } }\n',
    'one.yaml': 'modules:\n  node: { method: http, http: { port: 9100 } }\n',
    'd/node.yml': 'method: http\nhttp: { port: 9101 }\n',
    'dup.ini': '[node]\nport = 1\n[node]\nport = 2\n',
  });
  await assert.rejects(loadModuleSet({ files: [path.join(dir, 'dup.yaml')], dirs: [] }), /not valid YAML.*(Map keys must be unique|unique)/s);
  await assert.rejects(loadModuleSet({ files: [path.join(dir, 'one.yaml')], dirs: [path.join(dir, 'd')] }), /module node is already defined/);
  await assert.rejects(loadModuleSet({ files: [path.join(dir, 'dup.ini')], dirs: [] }), /section \[node\] is defined twice/);
});

test('--config.dirs: one module per *.yml/*.yaml file named after it; other files are skipped and reported', async () => {
  const dir = await tmp({ 'd/node.yaml': 'method: http\nhttp: { port: 9100 }\n', 'd/mtail.yml': 'method: http\nhttp: { port: 3903 }\n', 'd/README.txt': 'x' });
  const skipped: string[] = [];
  const set = await loadModuleSet({ files: [], dirs: [path.join(dir, 'd')] }, (f) => skipped.push(f));
  assert.deepEqual([...set.modules.keys()].sort(), ['mtail', 'node']);
  assert.deepEqual(skipped, [path.join(dir, 'd', 'README.txt')]);
});

test('a missing file or directory is an error naming it', async () => {
  await assert.rejects(loadModuleSet({ files: ['/nonexistent/expexp.yaml'], dirs: [] }), /cannot read module configuration \/nonexistent\/expexp.yaml/);
  await assert.rejects(loadModuleSet({ files: [], dirs: ['/nonexistent/d'] }), /failed reading directory \/nonexistent\/d/);
});

test('openITCOCKPIT .ini: enabled sections become modules named after the section, read as the agent reads them', async () => {
  const dir = await tmp({
    'prometheus_exporters.ini':
      '[node_exporter]\nenabled = True\nmethod = http\nport = 9100\npath = /metrics\ninterval = 15\ntimeout = 5\n\n; comment\n' +
      '[mysqld_exporter]\nenabled = False\nmethod = http\nport = 9104\npath = /metrics\n\n' +
      '[no_enabled_key]\nport = 9200\npath = /metrics\n\n' +
      '[Windows]\nenabled = true\nmethod = https\nport = 9182\npath = /metrics\ncolour = red\n\n' +
      '[default]\nenabled = True\nport = 1\npath = /x\n',
  });
  const warnings: string[] = [];
  const set = await loadModuleSet({ files: [path.join(dir, 'prometheus_exporters.ini')], dirs: [] }, undefined, (w) => warnings.push(w));
  // Sections without enabled = True are off, as in the agent; names are lower-cased as viper does; [default] is no exporter.
  assert.deepEqual([...set.modules.keys()], ['node_exporter', 'windows']);
  const node = set.modules.get('node_exporter')!;
  assert.ok(node.method === 'http');
  assert.deepEqual([node.style, node.port, node.path, node.timeoutMs, node.scheme], ['oitc', 9100, '/metrics', 5000, 'http']);
  const windows = set.modules.get('windows')!;
  assert.ok(windows.method === 'http');
  assert.deepEqual([windows.scheme, windows.timeoutMs], ['https', 15_000]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /\[Windows\]: ignoring keys the agent does not know: colour/);
  assert.throws(() => parseIni('port = 1\n', 'x.ini'), /before any \[section\]/);
  const nopath = await tmp({ 'b.ini': '[a]\nenabled = True\nport = 1\n' });
  await assert.rejects(loadModuleSet({ files: [path.join(nopath, 'b.ini')], dirs: [] }), /missing path for prometheus exporter: a/);
});

test('module routes: exporter_exporter and openITCOCKPIT forms; args only as decoded values; only on the virtual host', () => {
  assert.deepEqual(matchModuleRoute('/'), { kind: 'list', style: 'expexp' });
  assert.deepEqual(matchModuleRoute('/prometheus'), { kind: 'list', style: 'oitc' });
  assert.equal(matchModuleRoute('/metrics'), undefined);
  assert.deepEqual(matchModuleRoute('/proxy?module=blackbox&module=icmp&target=8.8.8.8&args=%3B%20rm&args=%24(id)%0A'), {
    kind: 'module',
    style: 'expexp',
    name: 'blackbox',
    extraQuery: 'module=icmp&target=8.8.8.8&args=%3B%20rm&args=%24(id)%0A',
    args: ['; rm', '$(id)\n'],
  });
  assert.deepEqual(matchModuleRoute('/prometheus?exporter=node_exporter'), { kind: 'module', style: 'oitc', name: 'node_exporter', extraQuery: '', args: [] });
  assert.equal(onVirtualHost({ origin: 'http://host.example' }), true);
  assert.equal(onVirtualHost({ origin: 'http://host.example:80' }), true);
  assert.equal(onVirtualHost({ origin: 'http://host.example:9100' }), false);
  assert.equal(onVirtualHost({ origin: 'https://host.example' }), false);
});

test('the example module files of the README load as they are', async () => {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../../..');
  const set = await loadModuleSet({ files: [path.join(root, 'examples/modules/expexp.yaml'), path.join(root, 'examples/modules/prometheus_exporters.ini')], dirs: [] });
  assert.deepEqual([...set.modules.keys()].sort(), ['mtail', 'mysqld_exporter', 'netdata', 'node', 'node_exporter', 'somescript', 'textfile']);
});
