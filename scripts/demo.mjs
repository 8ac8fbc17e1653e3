#!/usr/bin/env node
// Local demo: a proxy on 127.0.0.1:8080, a client registered as 127.0.0.1,
// and (unless something already serves metrics on 127.0.0.1:9100) a tiny
// demo exporter there. Prints a curl command that scrapes through the proxy.
// Everything listens on loopback only; Ctrl-C stops it all. Each line of
// output starts with the program that wrote it (pushprox-proxy,
// pushprox-client, or demo for this script and its exporter).
import { spawn } from 'node:child_process';
import http from 'node:http';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PROXY = process.env.DEMO_PROXY_ADDR ?? '127.0.0.1:8080';
const EXPORTER_PORT = Number(process.env.DEMO_EXPORTER_PORT ?? 9100);
const CLIENT_METRICS = `127.0.0.1:${Number(process.env.DEMO_CLIENT_METRICS_PORT ?? 9369)}`;
const children = [];
const LABEL_WIDTH = 'pushprox-client'.length;

/** Writes each line of `text` to `out`, labelled with the program that wrote it. */
function say(name, text, out = process.stdout) {
  for (const line of String(text).split('\n')) out.write(`${name.padEnd(LABEL_WIDTH)} | ${line}\n`);
}
const log = (text) => say('demo', text);
const logError = (text) => say('demo', text, process.stderr);

/** Relays a child's output line by line, labelled; a partial last line is flushed when the stream ends. */
function relay(name, stream, out) {
  readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => say(name, line, out));
}

function get(url, headers = {}, proxyPort) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const opts = proxyPort
      ? { host: '127.0.0.1', port: proxyPort, path: url, headers }
      : { host: u.hostname, port: u.port, path: u.pathname + u.search, headers };
    const req = http.get({ ...opts, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', reject);
  });
}

async function exporterRunning() {
  try {
    const r = await get(`http://127.0.0.1:${EXPORTER_PORT}/metrics`);
    return r.status === 200;
  } catch {
    return false;
  }
}

function run(name, args) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  relay(name, child.stdout, process.stdout);
  relay(name, child.stderr, process.stderr);
  child.on('exit', (code, signal) => {
    if (!stopping) {
      logError(`${name} exited (${signal ?? code}); stopping the demo`);
      stop(1);
    }
  });
  children.push(child);
}

let stopping = false;
function stop(code = 0) {
  stopping = true;
  const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
  for (const c of running) c.kill('SIGTERM');
  // Exit once the programs have (their last lines relayed), or after 5 s at most.
  Promise.all(running.map((c) => new Promise((resolve) => c.once('close', resolve)))).then(() => process.exit(code));
  setTimeout(() => process.exit(code), 5000).unref();
  if (server) server.close();
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

let server;
if (!(await exporterRunning())) {
  server = http.createServer((req, res) => {
    const body =
      '# HELP demo_requests_total Scrapes served by the pushprox demo exporter.\n' +
      '# TYPE demo_requests_total counter\n' +
      `demo_requests_total ${++served}\n`;
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(body);
  });
  let served = 0;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(EXPORTER_PORT, '127.0.0.1', resolve);
  });
  log(`demo exporter serving http://127.0.0.1:${EXPORTER_PORT}/metrics`);
}

run('pushprox-proxy', [path.join(root, 'packages/proxy/bin/pushprox-proxy.js'), `--web.listen-address=${PROXY}`]);
// Start the client once the proxy answers, so its first poll does not fail.
for (let i = 0; i < 100; i++) {
  try {
    if ((await get(`http://${PROXY}/metrics`)).status === 200) break;
  } catch {}
  await new Promise((r) => setTimeout(r, 100));
}
run('pushprox-client', [
  path.join(root, 'packages/client/bin/pushprox-client.js'),
  '--fqdn=127.0.0.1',
  `--proxy-url=http://${PROXY}`,
  `--metrics-addr=${CLIENT_METRICS}`,
]);

const proxyPort = Number(PROXY.split(':').pop());
const deadline = Date.now() + 15_000;
for (;;) {
  try {
    const r = await get(`http://${PROXY}/clients`);
    if (r.status === 200 && r.body.includes('"127.0.0.1"')) break;
  } catch {}
  if (Date.now() > deadline) {
    logError('the client did not register with the proxy within 15 s');
    stop(1);
    break;
  }
  await new Promise((r) => setTimeout(r, 100));
}
if (!stopping) {
  const target = `http://127.0.0.1:${EXPORTER_PORT}/metrics`;
  const r = await get(target, { 'X-Prometheus-Scrape-Timeout-Seconds': '5' }, proxyPort);
  log(`scrape through the proxy: HTTP ${r.status}, ${r.body.split('\n').length - 1} lines`);
  log('The demo is running. Scrape through the proxy as Prometheus does:');
  log(`  curl -x http://${PROXY} ${target}`);
  log(`Registered clients (file_sd JSON):  curl http://${PROXY}/clients`);
  log(`Proxy metrics:                      curl http://${PROXY}/metrics`);
  log(`Client metrics:                     curl http://${CLIENT_METRICS}/metrics`);
  log('Ctrl-C stops the demo.');
}
