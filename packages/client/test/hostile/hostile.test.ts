import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowPortRig, FQDN, scrapeRequest, type Exporter } from '../helpers.js';

/**
 * Hostile poll replies (issue #4): request targets that try to make the
 * client scrape another host or a forbidden port through URL parsing
 * tricks. The plain cases (another host, a forbidden port, a forbidden path
 * or method) are in scrape-errors.test.ts and scrape-restrictions.test.ts;
 * this counts TCP connections on the exporters, not just requests.
 */

function countConnections(exporter: Exporter): { readonly count: number } {
  const counter = { count: 0 };
  exporter.server.on('connection', () => counter.count++);
  return counter;
}

/** A poll reply whose request line carries `target` byte for byte. */
function replyFor(target: string): { bytes: Buffer; id: string } {
  const { bytes, id } = scrapeRequest({ target: `http://${FQDN}:1/metrics` });
  const text = bytes.toString('latin1');
  const line = text.indexOf(' HTTP/1.1\r\n');
  return { bytes: Buffer.from(`GET ${target}${text.slice(line)}`, 'latin1'), id };
}

test('poll replies that smuggle another host or a forbidden port through URL tricks never reach an exporter', { timeout: 20_000 }, async (t) => {
  const { proxy, allowed, forbidden } = await allowPortRig(t);
  const onAllowed = countConnections(allowed);
  const onForbidden = countConnections(forbidden);
  const A = allowed.port;
  const B = forbidden.port;

  // [target, status pushed back]: 500 is upstream's FQDN mismatch, 403 a policy refusal.
  const cases: Array<[string, number]> = [
    [`http://localhost:${A}/metrics`, 500],
    [`http://${FQDN}@localhost:${A}/metrics`, 500],
    [`http://${FQDN}:${A}@localhost:${A}/metrics`, 500],
    [`http://localhost#@${FQDN}:${A}/metrics`, 500],
    [`http://localhost?@${FQDN}:${A}/metrics`, 500],
    [`http://[::ffff:${FQDN}]:${A}/metrics`, 500],
    [`http://${FQDN}:${A}:${B}/metrics`, 500],
    [`/metrics`, 500],
    [`${FQDN}:${A}`, 500],
    [`file:///etc/passwd`, 500],
    [`http://${FQDN}:${B}/metrics`, 403],
    [`http://${FQDN}:${B}/metrics?_scheme=https`, 403],
    // WHATWG URL: a backslash ends the authority, leaving the default port 80.
    [`http://${FQDN}\\@localhost:${A}/metrics`, 403],
    [`http://${FQDN}:${B}\\@${FQDN}:${A}/metrics`, 403],
  ];
  for (const [target, status] of cases) {
    const { bytes, id } = replyFor(target);
    proxy.scrape(bytes);
    const push = await proxy.waitPush(id);
    assert.equal(push.parsed.head.status, status, `${target}: ${push.parsed.body.toString()}`);
  }
  assert.equal(onAllowed.count, 0, 'no connection to the allowed exporter');
  assert.equal(onForbidden.count, 0, 'no connection to the forbidden exporter');
  assert.equal(allowed.requests.length + forbidden.requests.length, 0);

  // The counters work: a legitimate scrape opens a connection.
  const good = scrapeRequest({ target: `http://${FQDN}:${A}/metrics` });
  proxy.scrape(good.bytes);
  assert.equal((await proxy.waitPush(good.id)).parsed.head.status, 200);
  assert.equal(onAllowed.count, 1);
});
