import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixturesDir, missingFixturesMessage } from '../src/testing/fixtures.js';

const FIXTURES_JS = fileURLToPath(new URL('../src/testing/fixtures.js', import.meta.url));
// dist/test → the repository root.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

function importFixtures(env: NodeJS.ProcessEnv) {
  const script = `import(${JSON.stringify(FIXTURES_JS)}).then((m) => m.fixtureNames())`;
  return spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000, env });
}

test('missing wire fixtures fail with one line naming the directory and PUSHPROX_FIXTURES, not a raw ENOENT', () => {
  const r = importFixtures({ ...process.env, PUSHPROX_FIXTURES: '/nonexistent/pushprox-wire' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /wire fixtures not found: PUSHPROX_FIXTURES=\/nonexistent\/pushprox-wire is not a directory/);
  assert.doesNotMatch(r.stderr, /ENOENT|scandir|at .*fixtures\.js/);
});

test('the default fixtures directory is ../shared/fixtures/pushprox-wire beside the project root, and the message says so', () => {
  const saved = process.env['PUSHPROX_FIXTURES'];
  delete process.env['PUSHPROX_FIXTURES'];
  try {
    assert.equal(fixturesDir(), path.resolve(ROOT, '..', 'shared', 'fixtures', 'pushprox-wire'));
  } finally {
    if (saved !== undefined) process.env['PUSHPROX_FIXTURES'] = saved;
  }
  const msg = missingFixturesMessage('/x/shared/fixtures/pushprox-wire', false);
  assert.equal(msg.split('\n').length, 1);
  assert.match(msg, /^wire fixtures not found at \/x\/shared\/fixtures\/pushprox-wire \(\.\.\/shared\/fixtures\/pushprox-wire beside the project root\); set PUSHPROX_FIXTURES=/);
});
