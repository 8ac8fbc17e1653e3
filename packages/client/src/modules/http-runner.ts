import { readFile } from 'node:fs/promises';
import type { Agent, Dispatcher } from 'undici';
import { undici } from '../http/undici-parts.js';
import { messageOf, type WireHeaders } from '@pushprox/shared';
import { ExporterBodyError } from '../scraping/exporter-body.js';
import { describeError, forwardedHeaders } from '../scraping/scrape.js';
import type { HttpModule, ModuleResponse } from './types.js';
import { moduleConfigError } from './load-yaml.js';

/**
 * An http module: the exporter on this host (address localhost) or, for a
 * gateway, another host of the client's network named in the configuration.
 * Prometheus' request headers are passed on (as exporter_exporter's reverse
 * proxy does), then the module's `headers` and basic auth. With `verify`,
 * `Accept-Encoding` is not passed on: the check reads the text itself.
 */

export interface HttpRun {
  readonly dispatcher: Dispatcher;
  /** Prometheus' request headers. */
  readonly headers: WireHeaders;
  /** The request's query minus the first `module=` (or `exporter=`), passed on as exporter_exporter does. */
  readonly extraQuery: string;
  readonly signal: AbortSignal;
}

function requestPath(m: HttpModule, extraQuery: string): string {
  if (extraQuery === '') return m.path;
  return `${m.path}${m.path.includes('?') ? '&' : '?'}${extraQuery}`;
}

/** With `verify`, an Accept that offers protobuf keeps only its text formats: the check reads text. */
function textAccept(value: string): string {
  const kept = value.split(',').filter((part) => !/protobuf/i.test(part));
  return kept.length > 0 ? kept.join(',') : 'text/plain;version=0.0.4';
}

function moduleHeaders(m: HttpModule, headers: WireHeaders): string[] {
  const out = forwardedHeaders(headers).filter((_, i, a) => {
    const name = (i % 2 === 0 ? a[i] : a[i - 1])!.toLowerCase();
    return !(m.verify && name === 'accept-encoding') && !(m.basicAuth && name === 'authorization');
  });
  if (m.verify) {
    for (let i = 0; i + 1 < out.length; i += 2) if (out[i]!.toLowerCase() === 'accept') out[i + 1] = textAccept(out[i + 1]!);
  }
  for (let i = 0; i + 1 < m.headers.length; i += 2) out.push(m.headers[i]!, m.headers[i + 1]!);
  if (m.basicAuth) out.push('Authorization', `Basic ${Buffer.from(`${m.basicAuth.username}:${m.basicAuth.password}`).toString('base64')}`);
  return out;
}

export function moduleUrl(m: HttpModule): string {
  const host = m.address.includes(':') && !m.address.startsWith('[') ? `[${m.address}]` : m.address;
  return `${m.scheme}://${host}:${m.port}${m.path}`;
}

export async function runHttp(m: HttpModule, run: HttpRun): Promise<ModuleResponse> {
  const url = new URL(moduleUrl(m));
  let res: Dispatcher.ResponseData;
  try {
    res = await run.dispatcher.request({
      origin: url.origin,
      path: requestPath(m, run.extraQuery),
      method: 'GET',
      headers: moduleHeaders(m, run.headers),
      signal: run.signal,
      responseHeaders: 'raw',
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  } catch (err) {
    const why = run.signal.aborted ? messageOf(run.signal.reason) : describeError(err);
    throw new ExporterBodyError(`module ${m.name}: failed to scrape ${moduleUrl(m)}: ${why}`, { cause: err });
  }
  return { statusCode: res.statusCode, statusText: res.statusText ?? '', headers: res.headers as unknown as string[], body: res.body };
}

/** A module with its own TLS settings gets its own dispatcher; the others use the client's targets' dispatcher. */
export function needsOwnDispatcher(m: HttpModule): boolean {
  const t = m.tls;
  return t.insecureSkipVerify || t.caFile !== undefined || t.certFile !== undefined || t.serverName !== undefined;
}

/** Reads the module's TLS files; throws CONFIG_INVALID naming the file. */
export async function moduleDispatcher(m: HttpModule): Promise<Agent> {
  const read = async (file: string | undefined, field: string): Promise<Buffer | undefined> => {
    if (file === undefined) return undefined;
    try {
      return await readFile(file);
    } catch (err) {
      throw moduleConfigError(`${m.source}: module ${m.name}: cannot read ${field} ${file}: ${messageOf(err)}`);
    }
  };
  const [ca, cert, key] = await Promise.all([
    read(m.tls.caFile, 'tls_ca_cert_file'),
    read(m.tls.certFile, 'tls_cert_file'),
    read(m.tls.keyFile, 'tls_key_file'),
  ]);
  return new undici.Agent({
    connect: {
      ...(ca && { ca }),
      ...(cert && { cert }),
      ...(key && { key }),
      rejectUnauthorized: !m.tls.insecureSkipVerify,
      ...(m.tls.serverName !== undefined && { servername: m.tls.serverName }),
    },
  });
}
