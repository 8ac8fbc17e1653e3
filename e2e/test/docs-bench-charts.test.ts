import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHART_FILES, latencyChart, memoryChart, mergeResults, readResults, throughputChart, writeCharts, type Row } from '../bench/charts.js';
import { renderChart } from '../bench/svg-chart.js';

/**
 * The charts BENCHMARKS.md embeds: drawn from the bench's JSON rows, and the
 * committed SVGs are exactly what the committed results file draws.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const dir = mkdtempSync(path.join(tmpdir(), 'pushprox-charts-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const row = (scenario: string, fields: Record<string, unknown>): Row => ({
  scenario,
  relay: 'pushprox',
  client_args: '',
  clients: 1,
  gzip: false,
  ...fields,
});
const serial = (scenario: string, bytes: number, p50: number, args = ''): Row =>
  row(scenario, { client_args: args, body_bytes: bytes, concurrency: 1, latency_ms: { p50: { median: p50 } }, direct_latency_ms: { p50: { median: p50 / 4 } } });

test('an SVG chart has one marker per point, a legend entry per series, and escapes text', () => {
  const svg = renderChart({
    title: 'a < b & "c"',
    x: { title: 'x', log: true },
    y: { title: 'y' },
    series: [
      { name: 'one', points: [{ x: 1, y: 2 }, { x: 10, y: 3 }, { x: 100, y: 5 }] },
      { name: 'two', points: [{ x: 10, y: 1 }], dashed: true },
      { name: 'empty', points: [] },
    ],
  });
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assert.equal(svg.match(/<circle /g)?.length, 4);
  assert.equal(svg.match(/<polyline /g)?.length, 1, 'a single point draws no line');
  assert.ok(svg.includes('a &lt; b &amp; &quot;c&quot;'));
  assert.ok(!svg.includes('>empty<'), 'a series without points is not in the legend');
  assert.equal(renderChart({ title: 't', x: { title: 'x' }, y: { title: 'y' }, series: [{ name: 's', points: [{ x: 1, y: 1 }] }] }), renderChart({ title: 't', x: { title: 'x' }, y: { title: 'y' }, series: [{ name: 's', points: [{ x: 1, y: 1 }] }] }), 'deterministic');
});

test('a logarithmic axis refuses a value that is not positive, naming the axis', () => {
  assert.throws(
    () => renderChart({ title: 't', x: { title: 'body size', log: true }, y: { title: 'y' }, series: [{ name: 's', points: [{ x: 0, y: 1 }] }] }),
    /chart axis "body size" is logarithmic: expected values > 0, got 0/,
  );
});

test('the charts pick their series from the bench rows', () => {
  const rows: Row[] = [
    serial('i: 1 client, serial, 10 KB', 10_240, 0.9),
    serial('v: 10 MB plain', 10 * 1024 * 1024, 27),
    serial('i: 1 client --no-proxy.channel, serial, 10 KB', 10_240, 1.0, '--no-proxy.channel'),
    { ...serial('ii: built-in load client (minimal Node client), 8 parallel, 10 KB', 10_240, 3), concurrency: 8 },
    row('ii: 1 client, 8 parallel, 10 KB', { body_bytes: 10_240, concurrency: 8, scrapes_per_s: { median: 2485 }, direct_scrapes_per_s: { median: 7761 } }),
    row('iv: 1000 idle clients on channels', { mode: 'channel', clients: 1000, proxy_rss_idle_mb: 69.5, proxy_rss_with_clients_mb: 80.4, proxy_rss_after_window_mb: 68.5 }),
    row('iv: 10000 idle clients on channels', { mode: 'channel', clients: 10_000, proxy_rss_idle_mb: 69.5, proxy_rss_with_clients_mb: 129.5, proxy_rss_after_window_mb: 100, stage_clients: 1000, proxy_rss_stage_settled_mb: 69 }),
  ];
  const latency = latencyChart(rows);
  const ours = latency.series.find((s) => s.name === 'ours (channel)')!;
  assert.deepEqual(ours.points.map((p) => [p.x, p.y]), [[10_240, 0.9], [10 * 1024 * 1024, 27]], 'the built-in load client is not ours');
  assert.deepEqual(latency.series.find((s) => s.name === 'ours (polling)')!.points.map((p) => p.y), [1.0]);
  const throughput = throughputChart(rows);
  assert.deepEqual(throughput.series.find((s) => s.name === 'ours (channel)')!.points.map((p) => [p.x, p.y]), [[8, 2485]]);
  assert.deepEqual(throughput.series.find((s) => s.name === 'direct scrape')!.points.map((p) => p.y), [7761]);
  const memory = memoryChart(rows);
  assert.deepEqual(memory.series.find((s) => s.name === 'channels, settled')!.points.map((p) => [p.x, p.y]), [[0, 69.5], [1000, 69], [10_000, 100]]);
  assert.deepEqual(memory.series.find((s) => s.name === 'channels, 2 s after burst')!.points.map((p) => [p.x, p.y]), [[0, 69.5], [1000, 80.4], [10_000, 129.5]]);
});

test('a run merges its rows into the results file by scenario and keeps the others', () => {
  const file = path.join(dir, 'results.json');
  mergeResults(file, [serial('a', 1, 1), serial('b', 1, 2)]);
  const merged = mergeResults(file, [serial('b', 1, 3), { scenario: 'c', skipped: 'no socat' }]);
  assert.deepEqual(Object.keys(merged.rows), ['a', 'b']);
  assert.deepEqual(readResults(file), merged);
  assert.equal((readResults(file).rows['b']!['latency_ms'] as { p50: { median: number } }).p50.median, 3);
  writeFileSync(file, '{"scenarios": []}');
  assert.throws(() => readResults(file), /expected \{"rows": \{\.\.\.\}\}, got scenarios/);
});

test('the committed charts are what the committed results file draws', () => {
  const results = readResults(path.join(ROOT, 'docs', 'bench', 'results.json'));
  assert.ok(Object.keys(results.rows).length > 10, 'docs/bench/results.json holds the bench rows');
  const written = writeCharts(results, dir).map((f) => path.basename(f));
  assert.deepEqual(written, [...CHART_FILES]);
  for (const file of CHART_FILES) {
    assert.equal(readFileSync(path.join(ROOT, 'docs', 'bench', file), 'utf8'), readFileSync(path.join(dir, file), 'utf8'), `docs/bench/${file} is stale: npm run bench -- --charts-only`);
  }
});
