import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { Agent } from 'undici';
import { parseRequest } from '@pushprox/shared';
import { AbortToken } from '../../src/scraping/abort-token.js';
import { scrapeTarget, sendScrape } from '../../src/scraping/scrape.js';
import { createDispatcher } from '../../src/http/routing-dispatcher.js';

/**
 * An exporter that closes an idle kept-alive connection just as the client
 * reuses it: the scrape is sent again once on a new connection (as Go's
 * client does for idempotent requests), instead of failing with "other side closed".
 */

/** Answers the first request of each connection (keep-alive), and closes a connection on its second request, unanswered. */
async function racingExporter(): Promise<{ port: number; connections: () => number; close: () => void }> {
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    s.on('error', () => undefined);
    let requests = 0;
    let buf = '';
    s.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        if (++requests === 1) s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nup 1\n');
        else s.destroy();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as net.AddressInfo).port, connections: () => connections, close: () => server.close() };
}

const get = (port: number) => parseRequest(Buffer.from(`GET http://127.0.0.1:${port}/metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)).head;

test('regression: a scrape on a kept-alive connection the exporter closes as it is reused is sent again, once, and succeeds', async () => {
  const exporter = await racingExporter();
  const agent = new Agent();
  try {
    const target = scrapeTarget(`http://127.0.0.1:${exporter.port}/metrics`, '127.0.0.1');
    for (let i = 0; i < 3; i++) {
      const res = await sendScrape(agent, target, get(exporter.port), Buffer.alloc(0), new AbortToken());
      assert.equal(res.statusCode, 200);
      // The exporter's reason phrase reaches the push from undici's path too.
      assert.equal(res.statusText, 'OK');
      assert.equal(await res.body.toArray().then((parts) => Buffer.concat(parts).toString()), 'up 1\n');
    }
    // The second and third scrapes each found their kept-alive connection closed and opened a new one.
    assert.equal(exporter.connections(), 3);
  } finally {
    await agent.close();
    exporter.close();
  }
});

test('a scrape whose exporter closes every connection unanswered fails after one retry, not in a loop', async () => {
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    s.on('error', () => undefined);
    s.once('data', () => s.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const agent = new Agent();
  try {
    const target = scrapeTarget(`http://127.0.0.1:${port}/metrics`, '127.0.0.1');
    await assert.rejects(sendScrape(agent, target, get(port), Buffer.alloc(0), new AbortToken()), /other side closed|ECONNRESET|socket/i);
    assert.equal(connections, 2);
  } finally {
    await agent.close();
    server.close();
  }
});

test("an idle connection to an exporter that sends no Keep-Alive hint (as Go's servers) is kept past undici's 4 s default, as Go's client keeps it", { timeout: 20_000 }, async () => {
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    s.on('error', () => undefined);
    let buf = '';
    s.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nup 1\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const { dispatcher } = createDispatcher({}, {});
  try {
    const target = scrapeTarget(`http://127.0.0.1:${port}/metrics`, '127.0.0.1');
    for (let i = 0; i < 2; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 5_000));
      const res = await sendScrape(dispatcher, target, get(port), Buffer.alloc(0), new AbortToken());
      assert.equal(await res.body.toArray().then((parts) => Buffer.concat(parts).toString()), 'up 1\n');
    }
    assert.equal(connections, 1, 'the second scrape, 5 s later, reused the first connection');
  } finally {
    await dispatcher.close();
    server.close();
  }
});
