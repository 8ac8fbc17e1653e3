import { Readable } from 'node:stream';
import type { ModuleResponse, ModuleSet } from './types.js';

/**
 * The answers that are not a module's output, in each tool's shape:
 * exporter_exporter's `/` (HTML, or JSON with `Accept: application/json`)
 * and its error texts; the openITCOCKPIT agent's `/prometheus` (a JSON array
 * of names) and `Unknown exporter`.
 */

export function fixedResponse(status: number, statusText: string, contentType: string, text: string): ModuleResponse {
  const body = Buffer.from(text, 'utf8');
  return {
    statusCode: status,
    statusText,
    headers: ['Content-Type', contentType, 'Content-Length', String(body.length), 'X-Content-Type-Options', 'nosniff'],
    body: Readable.from([body]),
  };
}

const TEXT = 'text/plain; charset=utf-8';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sortedNames(set: ModuleSet): string[] {
  return [...set.modules.keys()].sort();
}

/**
 * exporter_exporter's `/`: JSON when an Accept header is exactly `application/json`, else HTML. Its JSON is the module configuration; ours keeps
 * only each module's method and timeout (nanoseconds, as Go marshals a
 * Duration), so no password or header value leaves the host.
 */
export function expexpListing(set: ModuleSet, json: boolean): ModuleResponse {
  if (json) {
    const obj = Object.fromEntries(sortedNames(set).map((n) => {
      const m = set.modules.get(n)!;
      return [n, { method: m.method, timeout: Math.round(m.timeoutMs * 1e6) }];
    }));
    return fixedResponse(200, 'OK', 'application/json', JSON.stringify(obj));
  }
  const items = sortedNames(set).map((n) => `\t\t\t\t\t\t<li><a href="/proxy?module=${encodeURIComponent(n)}">${escapeHtml(n)}</a></li>\n`).join('');
  return fixedResponse(200, 'OK', 'text/html; charset=utf-8', `\n\t\t\t<h2>Exporters:</h2>\n\t\t\t\t<ul>\n${items}\t\t\t\t</ul>`);
}

/** The openITCOCKPIT agent's `/prometheus`: the names as a JSON array. */
export function oitcListing(set: ModuleSet): ModuleResponse {
  return fixedResponse(200, 'OK', 'application/json', JSON.stringify(sortedNames(set)));
}

/**
 * exporter_exporter: `unknown module [NAME]` (Go's %v of the query values), 404; its text ends
 * in a newline and http.Error adds another.
 */
export function unknownModule(name: string): ModuleResponse {
  return fixedResponse(404, 'Not Found', TEXT, `unknown module [${name}]\n\n`);
}

/** exporter_exporter: `/proxy` without `module=` (and no defaultModule), 400. */
export function missingModule(): ModuleResponse {
  return fixedResponse(400, 'Bad Request', TEXT, 'require parameter module is missing[]\n\n');
}

/** The openITCOCKPIT agent's text for a name it does not know, without a newline; 404 where the agent answers 200, so the scrape fails. */
export function unknownExporter(): ModuleResponse {
  return fixedResponse(404, 'Not Found', TEXT, 'Unknown exporter');
}
