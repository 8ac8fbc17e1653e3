import { createLogger, messageOf, tuneV8ForRareWork } from '@pushprox/shared';
import { resolveProxyConfig } from './cli.js';
import { startProxy } from './listeners/server.js';
import { loadWebConfig } from './auth/web-config.js';
import { loadTokenFile } from './auth/client-auth.js';
import { ConfigReloader, reloadOnSighup } from './lifecycle/reloader.js';
import { addProxyReloadSteps } from './lifecycle/reload-steps.js';
import { warmUpProxy } from './lifecycle/warm-up.js';

/**
 * The proxy's `--interrupt-budget` (see tuneV8ForRareWork), an eighth of
 * V8's: with 20 targets scraped every 2 s, its CPU per scrape two to three
 * minutes after start fell from 1.1-1.5 ms to 0.7-1.0 ms, at the cost of
 * 0.5-0.8 ms more in the first 30 s (BENCHMARKS.md, Real scrape rates).
 */
const PROXY_INTERRUPT_BUDGET = 8_192;

/**
 * `pushprox-proxy` entry, a function rather than top-level await so that the
 * release bundle (CommonJS, for a single executable) can hold it.
 */
async function main(): Promise<void> {
  tuneV8ForRareWork({ interruptBudget: PROXY_INTERRUPT_BUDGET });
  if (process.argv[2] === 'pki') {
    // Imported lazily: the server never loads node-forge.
    const { runPki } = await import('./pki/cli.js');
    process.exit(await runPki(process.argv.slice(3)));
  }
  const config = await resolveProxyConfig(process.argv.slice(2));
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  try {
    const web = config.webConfigFile === undefined ? undefined : loadWebConfig(config.webConfigFile);
    const clientWeb =
      config.clientWebConfigFile === undefined ? undefined : loadWebConfig(config.clientWebConfigFile, 'web.client-config.file');
    const clientTokens = config.clientTokenFile === undefined ? undefined : loadTokenFile(config.clientTokenFile);
    // Imported only when enabled: enrollment signs with node-forge, which the proxy alone never loads.
    const enrollment = config.enroll
      ? (await import('./enroll/index.js')).createEnrollment({
          ...config.enroll,
          tls: Boolean(config.clientListen !== undefined ? (clientWeb ?? web)?.tls : web?.tls),
          logger,
        })
      : undefined;
    const enroll = enrollment?.handler;
    const reloader = new ConfigReloader({ logger });
    // Imported only when enabled: a proxy without a cluster never loads the NATS client.
    const cluster = config.cluster && new (await import('./cluster/cluster.js')).Cluster(config.cluster, logger);
    // Before the listeners open: the first scrapes then find their path compiled.
    const w = await warmUpProxy();
    if (logger.debugEnabled) logger.debug('Warmed up the scrape path', { rounds: w.rounds, ms: Math.round(w.ms) });
    const proxy = await startProxy(config, {
      ...(cluster && { cluster }),
      logger,
      lifecycle: { enabled: config.webEnableLifecycle, reload: () => reloader.reload(), state: () => reloader.state() },
      ...(web && { web }),
      ...(clientWeb && { clientWeb }),
      ...(clientTokens && { clientTokens }),
      ...(enroll && { enroll }),
    });
    addProxyReloadSteps(reloader, config, proxy, enrollment);
    reloader.register(proxy.metrics.registry);
    reloadOnSighup(reloader);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info('Shutting down', { signal });
      proxy.close().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error('Shutdown failed', { err: messageOf(err) });
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  } catch (err) {
    logger.error('Startup failed', { err: messageOf(err) });
    process.exit(1);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`error: ${messageOf(err)}\n`);
  process.exit(1);
});
