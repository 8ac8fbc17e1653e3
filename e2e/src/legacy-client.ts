import http from 'node:http';
import { buffer } from 'node:stream/consumers';
import { parseRequest } from '@pushprox/shared';

/**
 * A client that speaks only upstream PushProx v0.2.0's protocol, shaped on
 * the captures in ../shared/fixtures/pushprox-wire/: one poll at a time with
 * the bare FQDN and Go's empty Content-Type (02), no extension headers; the
 * scrape answer pushed as Go's Response.Write bytes with Content-Length, the
 * exporter's headers, `Id` and `X-Prometheus-Scrape-Timeout` (05a), or an
 * `HTTP/0.0 500` close-delimited error (05d). Any non-request poll reply is a
 * poll error followed by a 1 s pause, as upstream's backoff would do.
 */
export class LegacyClient {
  readonly #proxy: URL;
  readonly #fqdn: string;
  #stopped = false;
  #current: http.ClientRequest | undefined;
  pushes = 0;
  pollErrors = 0;
  readonly done: Promise<void>;

  constructor(proxyUrl: string, fqdn: string) {
    this.#proxy = new URL(proxyUrl);
    this.#fqdn = fqdn;
    this.done = this.#loop();
  }

  stop(): Promise<void> {
    this.#stopped = true;
    this.#current?.destroy();
    return this.done;
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      try {
        const reply = await this.#post('/poll', Buffer.from(this.#fqdn), { 'Content-Type': '', 'Accept-Encoding': 'gzip' }, 0);
        const { head } = parseRequest(reply);
        void this.#scrape(head.target, head.headers.get('Id') ?? '', Number(head.headers.get('X-Prometheus-Scrape-Timeout-Seconds')));
      } catch {
        if (this.#stopped) return;
        this.pollErrors++;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  async #scrape(target: string, id: string, timeoutSecs: number): Promise<void> {
    const deadline = Date.now() + timeoutSecs * 1000;
    const remaining = () => ((deadline - Date.now()) / 1000).toFixed(6);
    let pushed: Buffer;
    try {
      const { status, reason, headers, body } = await get(target, timeoutSecs * 1000);
      const lines = [`HTTP/1.1 ${status} ${reason}`, `Content-Length: ${body.length}`];
      for (let i = 0; i < headers.length; i += 2) {
        const name = headers[i]!;
        if (!/^(content-length|transfer-encoding)$/i.test(name)) lines.push(`${name}: ${headers[i + 1]}`);
      }
      lines.push(`Id: ${id}`, `X-Prometheus-Scrape-Timeout: ${remaining()}`);
      pushed = Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), body]);
    } catch (err) {
      const msg = `failed to scrape ${target}: ${(err as Error).message}`;
      pushed = Buffer.from(`HTTP/0.0 500 Internal Server Error\r\nId: ${id}\r\nX-Prometheus-Scrape-Timeout: ${remaining()}\r\n\r\n${msg}`);
    }
    try {
      await this.#post('/push', pushed, { 'Accept-Encoding': 'gzip' }, 10_000);
      this.pushes++;
    } catch {
      /* upstream ignores push failures but for a log line */
    }
  }

  #post(path: string, body: Buffer, headers: Record<string, string>, timeoutMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: this.#proxy.hostname,
          port: Number(this.#proxy.port),
          path,
          method: 'POST',
          agent: false,
          headers: { 'User-Agent': 'Go-http-client/1.1', 'Content-Length': String(body.length), ...headers },
        },
        (res) => buffer(res).then(resolve, reject),
      );
      if (path === '/poll') this.#current = req;
      if (timeoutMs > 0) req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(body);
    });
  }
}

function get(target: string, timeoutMs: number): Promise<{ status: number; reason: string; headers: string[]; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get(target, { agent: false, headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
      buffer(res).then(
        (body) => resolve({ status: res.statusCode!, reason: res.statusMessage ?? '', headers: res.rawHeaders, body }),
        reject,
      );
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('context deadline exceeded')));
    req.on('error', reject);
  });
}
