import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { operatorSetsYoungGeneration } from '../src/v8-flags.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FLAGS_MODULE = pathToFileURL(path.resolve(HERE, '..', 'src', 'v8-flags.js')).href;
const BIN = path.resolve(HERE, '..', '..', 'bin', 'pushprox-client.js');

/**
 * A node that loads v8-flags.js, then allocates 400 MB of short-lived objects,
 * some surviving a scavenge, and prints its young generation's size in bytes.
 */
function youngGenerationAfterChurn(env: NodeJS.ProcessEnv): Promise<number> {
  const script =
    `import ${JSON.stringify(FLAGS_MODULE)};\n` +
    "import v8 from 'node:v8';\n" +
    "let keep = []; for (let i = 0; i < 4e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 100000) keep = []; }\n" +
    "process.stdout.write(String(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size));\n";
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { env, timeout: 60_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      resolve(Number(stdout));
    });
  });
}

const MiB = 1024 * 1024;

test('the client keeps its young generation at its initial size under allocation churn', async () => {
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  const size = await youngGenerationAfterChurn(env);
  assert.ok(size > 0 && size <= 2 * MiB, `expected a young generation of at most 2 MiB (two 1 MiB semi-spaces), got ${size} bytes`);
});

test('a young-generation flag of the operator wins over the client\'s own setting', async () => {
  const size = await youngGenerationAfterChurn({ ...process.env, NODE_OPTIONS: '--max-semi-space-size=4' });
  assert.ok(size > 2 * MiB, `expected the operator's 4 MiB semi-spaces to be used (young generation above 2 MiB), got ${size} bytes`);
});

test('operatorSetsYoungGeneration reads node options from the command line and NODE_OPTIONS', () => {
  assert.equal(operatorSetsYoungGeneration([], undefined), false);
  assert.equal(operatorSetsYoungGeneration(['--max-old-space-size=64'], '--enable-source-maps'), false);
  assert.equal(operatorSetsYoungGeneration(['--max-semi-space-size=8'], undefined), true);
  assert.equal(operatorSetsYoungGeneration([], '--trace-gc --max_semi_space_size=8'), true);
  assert.equal(operatorSetsYoungGeneration([], '--semi-space-growth-factor=2'), true);
});

test('the bin loads v8-flags.js before any other module, which it imports only dynamically', () => {
  const text = readFileSync(BIN, 'utf8');
  const statics = [...text.matchAll(/^import\s+(?:[^'"]*from\s+)?'([^']+)'/gm)].map((m) => m[1]);
  assert.deepEqual(statics, ['../dist/src/v8-flags.js'], 'one static import: the flags; the rest loads after they are set');
});
