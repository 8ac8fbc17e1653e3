import type { ClientMeta, ClientModuleMeta } from '@pushprox/shared';

/** One file_sd / http_sd target group, as Prometheus reads it. */
export interface TargetGroup {
  readonly targets: string[];
  readonly labels: Record<string, string>;
}

/**
 * How Prometheus scrapes a module on the client's virtual host, per style:
 * exporter_exporter's `/proxy?module=NAME`, the openITCOCKPIT agent's
 * `/prometheus?exporter=NAME`. The visible label (`module` or `exporter`)
 * keeps the series of two modules of one host apart, as the `instance`
 * label alone would not.
 */
export const MODULE_ADDRESSING: Readonly<Record<ClientModuleMeta['style'], { path: string; param: string }>> = Object.freeze({
  expexp: Object.freeze({ path: '/proxy', param: 'module' }),
  oitc: Object.freeze({ path: '/prometheus', param: 'exporter' }),
});

/**
 * The target groups of `/clients` for the registered `names` (sorted).
 * Without metadata anywhere (`anyMeta` false) it is upstream's list, one
 * group per name with no labels, so an upstream fleet sees no change.
 * Otherwise names are grouped: a client without modules joins the group of
 * its label set; a client with modules is listed once per module, in a group
 * whose labels are its own plus `__metrics_path__`, `__param_<param>` and
 * `<param>` (which win over a client label of that name), so one
 * file_sd/http_sd job scrapes every module with no relabelling. A client
 * with modules is not listed bare: its FQDN on port 80 serves only modules.
 * Groups come in the order of their first name; label keys are sorted.
 */
export function targetGroups(names: readonly string[], metaOf: (fqdn: string) => ClientMeta, anyMeta: boolean): TargetGroup[] {
  if (!anyMeta) return names.map((fqdn) => ({ targets: [fqdn], labels: {} }));
  const groups = new Map<string, TargetGroup>();
  const add = (fqdn: string, labels: Record<string, string>): void => {
    const sorted = Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const key = JSON.stringify(sorted);
    const group = groups.get(key);
    if (group) group.targets.push(fqdn);
    else groups.set(key, { targets: [fqdn], labels: sorted });
  };
  for (const fqdn of names) {
    const meta = metaOf(fqdn);
    if (meta.modules.length === 0) {
      add(fqdn, { ...meta.labels });
      continue;
    }
    for (const m of meta.modules) {
      const { path, param } = MODULE_ADDRESSING[m.style];
      add(fqdn, { ...meta.labels, [param]: m.name, __metrics_path__: path, [`__param_${param}`]: m.name });
    }
  }
  return [...groups.values()];
}
