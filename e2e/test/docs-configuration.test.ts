import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * docs/configuration.md lists every flag of both programs and their
 * subcommands with its default. These tests compare each table with the
 * program's own `--help`, so a flag cannot be added, renamed, dropped or
 * given another default without the page: both ways, every flag.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PAGE = path.join(ROOT, 'docs', 'configuration.md');
const PROXY = path.join(ROOT, 'packages', 'proxy', 'dist', 'src', 'main.js');
const CLIENT = path.join(ROOT, 'packages', 'client', 'dist', 'src', 'main.js');

interface Flag {
  /** What the default column (docs) or `[default: ...]` (help) says; '' when nothing. */
  readonly default: string;
  readonly required: boolean;
}

function help(main: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [main, ...args, '--help'], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(main)} ${args.join(' ')} --help failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The flags of a `--help` text (yargs' layout: a flag starts a line, its description and tags may wrap). */
export function helpFlags(text: string): Map<string, Flag> {
  const flags = new Map<string, Flag>();
  let current: { name: string; text: string } | undefined;
  const flush = () => {
    if (!current) return;
    const d = /\[default: ([^\]]*)\]/.exec(current.text)?.[1] ?? '';
    flags.set(current.name, { default: d, required: /\[required\]/.test(current.text) });
  };
  for (const line of text.split('\n')) {
    const m = /^\s{2,}(?:-\w, )?(--[\w][\w.-]*)\s/.exec(`${line} `);
    if (m) {
      flush();
      current = { name: m[1]!, text: line };
    } else if (current && /^\s{10,}\S/.test(line)) {
      current.text += ` ${line.trim()}`;
    } else {
      flush();
      current = undefined;
    }
  }
  flush();
  return flags;
}

/** The flags of the first table under the heading `heading` (exact line) of the page. */
export function docFlags(page: string, heading: string): Map<string, Flag> {
  const start = page.split('\n').indexOf(heading);
  assert.ok(start >= 0, `docs/configuration.md has the heading "${heading}"`);
  const lines = page.split('\n').slice(start + 1);
  const first = lines.findIndex((l) => l.startsWith('| flag |'));
  assert.ok(first >= 0, `a flag table under "${heading}"`);
  const flags = new Map<string, Flag>();
  for (const line of lines.slice(first + 2)) {
    const m = /^\|\s*(.*?)\s*\|\s*(.*?)\s*\|.*\|$/.exec(line);
    if (!m) break;
    const dflt = m[2]!;
    for (const name of m[1]!.match(/--[\w][\w.-]*/g) ?? []) flags.set(name, { default: dflt, required: /\(required/.test(dflt) });
  }
  return flags;
}

/** A help default that is a literal value ("10s", 8, false) rather than a description. */
function literal(helpDefault: string): string | undefined {
  const quoted = /^"(.*)"$/.exec(helpDefault);
  if (quoted) return quoted[1];
  return /^(\d+|true|false)$/.test(helpDefault) ? helpDefault : undefined;
}

/** Flags every subcommand inherits from its program; the program's own table lists them. */
const INHERITED = ['--version', '--help', '--log.level', '--log.format'];

async function compare(heading: string, main: string, args: readonly string[]): Promise<void> {
  const page = readFileSync(PAGE, 'utf8');
  const documented = docFlags(page, heading);
  const helped = helpFlags(await help(main, args));
  if (args.length > 0) for (const f of INHERITED) helped.delete(f);
  const label = `${path.basename(path.dirname(path.dirname(path.dirname(main))))} ${args.join(' ')}`.trim();
  assert.ok(helped.size > 3, `${label} --help lists its flags (found ${[...helped.keys()].join(', ')})`);
  const missing = [...helped.keys()].filter((f) => !documented.has(f));
  const extra = [...documented.keys()].filter((f) => !helped.has(f));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `"${heading}" against ${label} --help: flags missing from the page, or on the page but not in --help`);
  for (const [name, h] of helped) {
    const d = documented.get(name)!;
    const value = literal(h.default);
    if (value !== undefined) assert.equal(d.default.replace(/`/g, ''), value, `${name}: default on the page against --help ("${h.default}")`);
    if (h.required) assert.ok(d.required, `${name}: --help says required, the page's default column says "${d.default}"`);
  }
}

test('docs/configuration.md lists every pushprox-proxy flag with the default --help gives', () => compare('## pushprox-proxy', PROXY, []));
test('docs/configuration.md lists every pushprox-proxy pki flag with the default --help gives', () => compare('### pushprox-proxy pki init | issue', PROXY, ['pki']));
test('docs/configuration.md lists every pushprox-client flag with the default --help gives', () => compare('## pushprox-client', CLIENT, []));
test('docs/configuration.md lists every pushprox-client enroll flag with the default --help gives', () => compare('### pushprox-client enroll', CLIENT, ['enroll']));

test('the help parser finds wrapped defaults, short aliases and required flags', () => {
  const flags = helpFlags(
    [
      'Options:',
      '      --web.read-idle-timeout      Longest silence while a request body is arriving;',
      '                                   0 disables.                   [string] [default: "30s"]',
      '      --proxy-url                 Push proxy to talk to.          [string] [required]',
      '  -h, --help                       Show help                                  [boolean]',
    ].join('\n'),
  );
  assert.deepEqual([...flags.keys()], ['--web.read-idle-timeout', '--proxy-url', '--help']);
  assert.equal(flags.get('--web.read-idle-timeout')!.default, '"30s"');
  assert.equal(flags.get('--proxy-url')!.required, true);
  assert.equal(literal('"30s"'), '30s');
  assert.equal(literal("this machine's FQDN"), undefined);
});
