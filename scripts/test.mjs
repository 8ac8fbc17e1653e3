#!/usr/bin/env node
// `npm test` after `tsc -b`: every test file, in three runs of Node's test runner.
// 1. The packages' tests but the chaos tests, two files at a time.
// 2. The e2e tests, two files at a time: most of their time is spent waiting on
//    real Prometheus scrape intervals, restarts and timeouts, not on the CPU.
// 3. Alone, one at a time: the chaos tests, which judge descriptors and
//    timeouts of real processes under every fault; the restart drills, which
//    count failed scrapes around restarts timed by a real Prometheus (a start
//    slowed down by a neighbour spans more scrapes); and the release test,
//    which builds and checks every artifact (esbuild, postject, dpkg, lintian,
//    qemu, wine) and would take the CPU from the others.
// Every run happens even when an earlier one failed; the exit code is non-zero
// if any failed. Extra arguments go to every run (e.g. --test-name-pattern=...).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ALONE = ['restart-drill', 'release'].map((name) => path.join(root, `e2e/dist/test/${name}.test.js`));

/** Every `*.test.js` under `dir`, sorted. */
function testFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...testFiles(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const packageTests = ['packages/shared', 'packages/proxy', 'packages/client'].flatMap((p) => testFiles(path.join(root, p, 'dist/test')));
const chaos = packageTests.filter((f) => /[/\\]hostile[/\\]chaos[^/\\]*\.test\.js$/.test(f));
const packages = packageTests.filter((f) => !chaos.includes(f));
const e2e = testFiles(path.join(root, 'e2e/dist/test')).filter((f) => !ALONE.includes(f));
const runs = [
  { name: 'packages', concurrency: 2, files: packages },
  { name: 'e2e', concurrency: 2, files: e2e },
  { name: 'alone', concurrency: 1, files: [...chaos, ...ALONE] },
];

const extra = process.argv.slice(2);
const failed = [];
for (const run of runs) {
  process.stdout.write(`# run: ${run.name} (${run.files.length} files, ${run.concurrency} at a time)\n`);
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${run.concurrency}`, ...extra, ...run.files], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) failed.push(`${run.name} (exit ${r.status ?? r.signal})`);
}
if (failed.length > 0) {
  process.stdout.write(`# failed runs: ${failed.join(', ')}\n`);
  process.exit(1);
}
process.stdout.write('# every run passed\n');
