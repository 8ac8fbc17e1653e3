import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const LAZY = pathToFileURL(path.resolve(HERE, '..', 'src', 'lazy-otel.js')).href;
const METRICS = pathToFileURL(path.resolve(HERE, '..', 'src', 'metrics.js')).href;

interface Report {
  readonly helpLines: string[];
  readonly realLoadedAfterMetrics: boolean;
  readonly realLoadedAfterUse: boolean;
  readonly forwards: boolean;
}

/**
 * A fresh node that (with `defer`) loads lazy-otel.ts first, then builds the
 * client's metrics (prom-client's defaults included) and reads them; then
 * uses the API through what `require('@opentelemetry/api')` gave prom-client.
 */
function run(defer: boolean): Promise<Report> {
  const script = `
    ${defer ? `import ${JSON.stringify(LAZY)};` : ''}
    import { createRequire } from 'node:module';
    const { ClientMetrics } = await import(${JSON.stringify(METRICS)});
    const req = createRequire(createRequire(${JSON.stringify(METRICS)}).resolve('prom-client'));
    const id = req.resolve('@opentelemetry/api');
    const realLoaded = () => Object.keys(req.cache).some((k) => k !== id && k.includes('@opentelemetry/api'));
    const text = await new ClientMetrics().registry.metrics();
    const realLoadedAfterMetrics = realLoaded();
    const given = req.cache[id]?.exports ?? req(id);
    const forwards = typeof given.trace.getSpan === 'function' && given.context === req(id).context;
    process.stdout.write(JSON.stringify({
      helpLines: text.split('\\n').filter((l) => l.startsWith('# HELP')),
      realLoadedAfterMetrics, realLoadedAfterUse: realLoaded(), forwards,
    }));`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout) as Report);
    });
  });
}

test('the client metrics do not load @opentelemetry/api until something uses it, and read the same', async () => {
  const [deferred, plain] = await Promise.all([run(true), run(false)]);
  assert.equal(plain.realLoadedAfterMetrics, true, 'without lazy-otel, prom-client loads it');
  assert.equal(deferred.realLoadedAfterMetrics, false, 'with lazy-otel, building and reading the metrics does not');
  assert.deepEqual(deferred.helpLines, plain.helpLines, 'the same metrics with the same HELP');
  assert.ok(deferred.helpLines.some((l) => l.startsWith('# HELP process_cpu_user_seconds_total ')));
  assert.equal(deferred.forwards, true, 'reads through the stand-in reach the real module');
  assert.equal(deferred.realLoadedAfterUse, true);
});
