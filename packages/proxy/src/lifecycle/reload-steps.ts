import type { ProxyConfig } from '../config.js';
import type { ReloadedWebConfig, RunningProxy } from '../listeners/server.js';
import { loadWebConfig } from '../auth/web-config.js';
import { loadTokenFile } from '../auth/client-auth.js';
import type { EnrollTokenTable } from '../enroll/tokens.js';
import type { ConfigReloader } from './reloader.js';

/** What of the enrollment can be reloaded (enroll/index.ts). */
export interface ReloadableEnrollment {
  loadTokens(): EnrollTokenTable;
  setTokens(tokens: EnrollTokenTable): void;
}

/**
 * The files SIGHUP and /-/reload re-read: the web config files (basic auth
 * users, TLS certificate, key and CA; not TLS on/off nor client_auth_type,
 * which need a restart), --client.token-file and --enroll.token-file. Only
 * files given at start are re-read; a flag cannot be added without a restart.
 */
export function addProxyReloadSteps(
  reloader: ConfigReloader,
  config: Pick<ProxyConfig, 'webConfigFile' | 'clientWebConfigFile' | 'clientTokenFile'>,
  proxy: Pick<RunningProxy, 'checkWebConfig' | 'applyWebConfig' | 'setClientTokens'>,
  enrollment: ReloadableEnrollment | undefined,
): void {
  const { webConfigFile, clientWebConfigFile, clientTokenFile } = config;
  if (webConfigFile !== undefined || clientWebConfigFile !== undefined) {
    reloader.add<ReloadedWebConfig>({
      what: [webConfigFile && `--web.config.file ${webConfigFile}`, clientWebConfigFile && `--web.client-config.file ${clientWebConfigFile}`]
        .filter(Boolean)
        .join(', '),
      load: () => {
        const next = {
          web: webConfigFile === undefined ? undefined : loadWebConfig(webConfigFile),
          clientWeb: clientWebConfigFile === undefined ? undefined : loadWebConfig(clientWebConfigFile, 'web.client-config.file'),
        };
        proxy.checkWebConfig(next);
        return next;
      },
      apply: (next) => proxy.applyWebConfig(next),
    });
  }
  if (clientTokenFile !== undefined) {
    reloader.add({ what: `--client.token-file ${clientTokenFile}`, load: () => loadTokenFile(clientTokenFile), apply: (t) => proxy.setClientTokens(t) });
  }
  if (enrollment) {
    reloader.add({ what: '--enroll.token-file', load: () => enrollment.loadTokens(), apply: (t) => enrollment.setTokens(t) });
  }
}
