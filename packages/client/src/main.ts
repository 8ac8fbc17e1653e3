import { createLogger, messageOf, readVersion, tuneV8ForRareWork } from '@pushprox/shared';
import { parseClientArgs } from './cli.js';
import { startClient } from './client.js';
import { resolveConfig } from './config.js';

/**
 * `pushprox-client` entry. Exit codes: 2 usage error (bad or unknown flag),
 * 1 configuration or startup error, 0 after a clean SIGTERM/SIGINT shutdown.
 * A second signal during shutdown exits 1 at once.
 */
async function main(): Promise<void> {
  tuneV8ForRareWork();
  // From dist/src/main.js the package root is two levels up.
  const version = readVersion(new URL('../../package.json', import.meta.url));
  if (process.argv[2] === 'enroll') {
    // Imported lazily: only enrollment and renewal load node-forge.
    const { runEnroll } = await import('./enroll/cli.js');
    process.exit(await runEnroll(process.argv.slice(3), version));
  }
  const args = await parseClientArgs(process.argv.slice(2), version);
  const logger = createLogger({ level: args['log.level'], format: args['log.format'] });
  let config;
  try {
    config = await resolveConfig(args);
  } catch (err) {
    process.stderr.write(`error: ${messageOf(err)}\n`);
    process.exit(1);
  }
  const client = await startClient(config, { logger });
  const renewal = config.autoRenew
    ? (await import('./enroll/renew.js')).startRenewal({
        certFile: config.tlsFiles!.cert!,
        keyFile: config.tlsFiles!.key!,
        caFile: config.tlsFiles!.cacert!,
        proxyUrl: config.proxyUrl,
        fqdn: config.fqdn,
        logger,
        onRenewed: () => client.reloadTls(),
      })
    : undefined;

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      logger.warn('Second signal; exiting without waiting for scrapes', { signal });
      process.exit(1);
    }
    signalled = true;
    renewal?.stop();
    logger.info('Shutting down', { signal, timeout_ms: config.shutdownTimeoutMs });
    client.stop().then(
      () => {
        logger.info('Shutdown complete');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error('Shutdown failed', { err: messageOf(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP re-reads the --tls.* files (renewed certificates) without a restart; reloadTls logs its own failure.
  process.on('SIGHUP', () => void client.reloadTls().catch(() => undefined));
}

main().catch((err: unknown) => {
  process.stderr.write(`error: ${messageOf(err)}\n`);
  process.exit(1);
});
