/**
 * Which requests on the client's virtual host (`http://<fqdn>/…` through the
 * proxy, or the client's own --web.listen-address) are module requests:
 * exporter_exporter's `/` and `/proxy?module=NAME[&args=…]`, the
 * openITCOCKPIT agent's `/prometheus[?exporter=NAME]`. Any other path is not
 * a module request and follows the ordinary scrape rules.
 */

export type ModuleRoute =
  | { readonly kind: 'list'; readonly style: 'expexp' | 'oitc' }
  | {
      readonly kind: 'module';
      readonly style: 'expexp' | 'oitc';
      /** undefined: `/proxy` without `module=` (the defaultModule, if any, answers). */
      readonly name: string | undefined;
      /** The query minus the first `module=` / `exporter=` pair, raw: passed on to http modules. */
      readonly extraQuery: string;
      /** Every `args=` value, decoded: literal argv entries for exec modules only. */
      readonly args: readonly string[];
    };

/** Go's url.QueryUnescape (`+` is a space); undecodable text is kept as it is. */
function decode(s: string): string {
  const plus = s.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}

function pairsOf(query: string): { key: string; value: string; raw: string }[] {
  return query
    .split('&')
    .filter((p) => p !== '')
    .map((raw) => {
      const eq = raw.indexOf('=');
      return { key: decode(eq < 0 ? raw : raw.slice(0, eq)), value: decode(eq < 0 ? '' : raw.slice(eq + 1)), raw };
    });
}

/** `pathAndQuery`: origin-form, as ScrapeTarget.path. undefined: not a module endpoint. */
export function matchModuleRoute(pathAndQuery: string): ModuleRoute | undefined {
  const q = pathAndQuery.indexOf('?');
  const path = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
  const query = q < 0 ? '' : pathAndQuery.slice(q + 1);
  if (path === '/') return { kind: 'list', style: 'expexp' };
  if (path !== '/proxy' && path !== '/prometheus') return undefined;
  const style = path === '/proxy' ? 'expexp' : 'oitc';
  const key = style === 'expexp' ? 'module' : 'exporter';
  const pairs = pairsOf(query);
  const at = pairs.findIndex((p) => p.key === key);
  if (at < 0 && style === 'oitc') return { kind: 'list', style };
  return {
    kind: 'module',
    style,
    name: at < 0 ? undefined : pairs[at]!.value,
    extraQuery: pairs.filter((_, i) => i !== at).map((p) => p.raw).join('&'),
    args: pairs.filter((p) => p.key === 'args').map((p) => p.value),
  };
}

/**
 * Module routes live on the client's virtual host as Prometheus addresses it
 * through the proxy: plain http on port 80 (`http://<fqdn>/proxy?module=…`,
 * with or without `:80`). Any other port or `_scheme=https` is an ordinary
 * scrape of that port, subject to --allow-port and --scrape.allow.
 */
export function onVirtualHost(target: { readonly origin: string }): boolean {
  return /^http:\/\/(?:\[[^\]]*\]|[^:]*)(?::80)?$/i.test(target.origin);
}
