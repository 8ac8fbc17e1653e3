import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ERROR_CODES, PushProxError } from '@pushprox/shared';
import { createDispatcher, envProxies, NoProxy, parseProxyUrl, startClient } from '../../src/index.js';
import { FakeProxy, METRICS_TEXT, scrapeRequest, startExporter, testConfig } from '../helpers.js';

// The rules are Go's (golang.org/x/net/http/httpproxy, which upstream's client uses through
// http.ProxyFromEnvironment); each case below states the rule it pins.

test('HTTPS_PROXY alone applies to https URLs: an https URL never falls back to HTTP_PROXY, as in Go', async () => {
  const only = envProxies({ HTTP_PROXY: 'http://proxy.example:3128' });
  assert.equal(only.http?.href, 'http://proxy.example:3128/');
  assert.equal(only.https, undefined);
  const choice = createDispatcher({}, { HTTP_PROXY: 'http://proxy.example:3128' });
  assert.deepEqual(choice.proxies, { http: 'http://proxy.example:3128/', noProxy: '' });
  await choice.dispatcher.destroy();
});

test('each proxy variable is read upper case first, and an empty value counts as unset', () => {
  const both = envProxies({ HTTP_PROXY: 'upper.example:1', http_proxy: 'lower.example:2', NO_PROXY: 'a.example', no_proxy: 'b.example' });
  assert.equal(both.http?.host, 'upper.example:1');
  assert.equal(both.noProxyText, 'a.example');
  const emptyUpper = envProxies({ HTTPS_PROXY: '', https_proxy: 'lower.example:2', NO_PROXY: '', no_proxy: 'b.example' });
  assert.equal(emptyUpper.https?.host, 'lower.example:2');
  assert.equal(emptyUpper.noProxyText, 'b.example');
  const none = envProxies({ HTTP_PROXY: '', HTTPS_PROXY: '' });
  assert.equal(none.http, undefined);
  assert.equal(none.https, undefined);
});

test('a proxy value may be host[:port] without a scheme (http assumed), as in Go', () => {
  assert.equal(parseProxyUrl('HTTP_PROXY', '127.0.0.1:3128').href, 'http://127.0.0.1:3128/');
  assert.equal(parseProxyUrl('HTTP_PROXY', 'squid.example:3128').href, 'http://squid.example:3128/');
  assert.equal(parseProxyUrl('HTTP_PROXY', 'squid.example').href, 'http://squid.example/');
  assert.equal(parseProxyUrl('HTTP_PROXY', '[::1]:3128').href, 'http://[::1]:3128/');
  assert.equal(parseProxyUrl('HTTPS_PROXY', 'https://u:p@proxy.example:8443').href, 'https://u:p@proxy.example:8443/');
  // socks5h (names resolved by the SOCKS server) is what undici's socks5 does.
  assert.equal(parseProxyUrl('HTTP_PROXY', 'socks5h://proxy.example:1080').href, 'socks5://proxy.example:1080');
});

test('a proxy value that is not a proxy URL is refused with the variable, the value (without credentials) and what was expected', () => {
  const refused = (name: string, value: string): PushProxError => {
    try {
      parseProxyUrl(name, value);
    } catch (err) {
      assert.ok(err instanceof PushProxError, String(err));
      assert.equal(err.code, ERROR_CODES.CONFIG_INVALID);
      return err;
    }
    assert.fail(`${name}=${value} was accepted`);
  };
  assert.equal(
    refused('HTTPS_PROXY', 'ftp://proxy.example:21').message,
    'HTTPS_PROXY: expected an http, https, socks5 or socks5h proxy URL, got scheme "ftp" in "ftp://proxy.example:21"',
  );
  assert.match(refused('HTTP_PROXY', ':3128').message, /^HTTP_PROXY: expected a proxy URL such as http:\/\/proxy\.example:3128 or host:port, got ":3128"$/);
  assert.match(refused('http_proxy', 'http://').message, /^http_proxy: expected a proxy URL/);
  const secret = refused('HTTP_PROXY', 'http://user:s3cret@[bad');
  assert.doesNotMatch(secret.message, /s3cret/);
  assert.match(secret.message, /"http:\/\/\*\*\*@\[bad"/);
  // createDispatcher refuses it the same way, so the client stops at start with the reason.
  assert.throws(() => createDispatcher({}, { HTTPS_PROXY: 'gopher://x' }), /HTTPS_PROXY: expected an http, https, socks5 or socks5h proxy URL/);
});

test('localhost and every loopback address go direct whatever NO_PROXY says, as in Go', () => {
  const none = new NoProxy('');
  for (const host of ['localhost', '127.0.0.1', '127.0.0.2', '127.255.255.254', '[::1]', '[::ffff:7f00:1]']) {
    assert.equal(none.bypass(host, '80'), true, host);
  }
  for (const host of ['10.0.0.1', '[::2]', 'example.com', 'localhost.example']) assert.equal(none.bypass(host, '80'), false, host);
});

test('NO_PROXY IP addresses and CIDR ranges, IPv4 and IPv6, with and without a port', () => {
  const np = new NoProxy('10.0.0.0/8, 192.168.1.5,192.168.1.6:8080, 2001:DB8::/32, [2001:db9::0005]:443, fd00::1');
  assert.equal(np.bypass('10.200.3.4', '9100'), true);
  assert.equal(np.bypass('11.0.0.1', '9100'), false);
  assert.equal(np.bypass('192.168.1.5', '1'), true);
  assert.equal(np.bypass('192.168.1.6', '8080'), true);
  assert.equal(np.bypass('192.168.1.6', '80'), false);
  assert.equal(np.bypass('[2001:db8::1]', '443'), true);
  assert.equal(np.bypass('[2001:db9::5]', '443'), true, 'IPv6 entries compare as addresses, not text');
  assert.equal(np.bypass('[2001:db9::5]', '80'), false);
  assert.equal(np.bypass('[fd00::1]', '80'), true);
  assert.equal(np.bypass('[fd00::2]', '80'), false);
});

test('NO_PROXY domain names: a name matches itself and its subdomains; ".name" and "*.name" only subdomains; never an IP address', () => {
  const np = new NoProxy('Example.COM, .example.org, *.example.net, example.io:8443, bücher.example');
  assert.equal(np.bypass('example.com', '80'), true);
  assert.equal(np.bypass('a.b.example.com', '80'), true);
  assert.equal(np.bypass('badexample.com', '80'), false);
  assert.equal(np.bypass('example.org', '80'), false);
  assert.equal(np.bypass('a.example.org', '80'), true);
  assert.equal(np.bypass('example.net', '80'), false);
  assert.equal(np.bypass('x.example.net', '80'), true);
  assert.equal(np.bypass('example.io', '8443'), true);
  assert.equal(np.bypass('example.io', '443'), false);
  // URL.hostname gives punycode.
  assert.equal(np.bypass(new URL('http://bücher.example/').hostname, '80'), true);
  assert.equal(new NoProxy('93.184.216.34.example').bypass('93.184.216.34', '80'), false);
});

test('NO_PROXY "*" sends everything direct; entries Go cannot read are ignored, the others still apply', () => {
  const all = new NoProxy('a.example, *');
  for (const host of ['example.com', '10.0.0.1', '[2001:db8::1]']) assert.equal(all.bypass(host, '443'), true, host);
  const messy = new NoProxy(' , ,:80,[,10.0.0.0/99,[::1,other.example');
  assert.equal(messy.bypass('other.example', '80'), true);
  assert.equal(messy.bypass('10.0.0.1', '80'), false);
});

/**
 * A SOCKS5 server (RFC 1928, no authentication, CONNECT only) on 127.0.0.1
 * that knows `names` (name → port on 127.0.0.1) and nothing else; it records
 * each CONNECT as `host:port`. Enough of the protocol to carry the client's
 * connections; it asks no DNS.
 */
async function startSocks5(names: Readonly<Record<string, number>>): Promise<{ port: number; connects: string[]; close(): Promise<void> }> {
  const connects: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
    let buf = Buffer.alloc(0);
    let stage: 'greeting' | 'request' = 'greeting';
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      if (stage === 'greeting') {
        if (buf.length < 2 || buf.length < 2 + buf[1]!) return;
        assert.equal(buf[0], 5, 'SOCKS version');
        buf = buf.subarray(2 + buf[1]!);
        s.write(Buffer.from([5, 0]));
        stage = 'request';
      }
      if (buf.length < 5) return;
      const atyp = buf[3];
      const addrLen = atyp === 1 ? 4 : atyp === 4 ? 16 : 1 + buf[4]!;
      if (buf.length < 4 + addrLen + 2) return;
      const host = atyp === 3 ? buf.subarray(5, 5 + buf[4]!).toString() : atyp === 1 ? [...buf.subarray(4, 8)].join('.') : 'ipv6';
      const port = buf.readUInt16BE(4 + addrLen);
      const rest = buf.subarray(4 + addrLen + 2);
      s.off('data', onData);
      connects.push(`${host}:${port}`);
      const to = names[host];
      // Reply 4: host unreachable; the client must not get anywhere else.
      if (buf[1] !== 1 || to !== port) return void s.end(Buffer.from([5, 4, 0, 1, 0, 0, 0, 0, 0, 0]));
      const up = net.connect(to, '127.0.0.1', () => {
        s.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
        if (rest.length > 0) up.write(rest);
        s.pipe(up).pipe(s);
      });
      sockets.add(up);
      up.on('close', () => sockets.delete(up));
      up.on('error', () => s.destroy());
    };
    s.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connects,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

for (const scheme of ['socks5', 'socks5h'] as const) {
  test(`HTTP_PROXY=${scheme}://…: polls, pushes and scrapes of named hosts go through the SOCKS5 server`, { timeout: 20_000 }, async (t) => {
    const exporter = await startExporter((_req, res) => res.end(METRICS_TEXT));
    t.after(() => exporter.close());
    const proxy = await FakeProxy.start('upstream');
    t.after(() => proxy.close());
    const proxyPort = Number(new URL(proxy.url).port);
    const socks = await startSocks5({ 'pushprox-proxy.test': proxyPort, 'exporter.pushprox.test': exporter.port });
    t.after(() => socks.close());
    const NAME = 'exporter.pushprox.test';
    const client = await startClient(testConfig(`http://pushprox-proxy.test:${proxyPort}/`, { fqdn: NAME }), {
      env: { HTTP_PROXY: `${scheme}://127.0.0.1:${socks.port}` },
    });
    t.after(() => client.stop());
    const { bytes, id } = scrapeRequest({ target: `http://${NAME}:${exporter.port}/metrics` });
    proxy.scrape(bytes);
    const push = await proxy.waitPush(id);
    assert.equal(push.parsed.head.status, 200, push.parsed.body.toString());
    assert.equal(push.parsed.body.toString(), METRICS_TEXT);
    // Names reach the SOCKS server unresolved, as socks5h asks (undici resolves none itself).
    assert.ok(socks.connects.includes(`pushprox-proxy.test:${proxyPort}`), socks.connects.join(' '));
    assert.ok(socks.connects.includes(`${NAME}:${exporter.port}`), socks.connects.join(' '));
  });
}
