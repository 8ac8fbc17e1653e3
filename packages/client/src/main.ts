// The bin loads v8-flags.ts before any other module (see there); this covers a start from main.js itself.
import './v8-flags.js';
import { createLogger, messageOf, readVersion, signalPlan, tuneV8ForRareWork } from '@pushprox/shared';
import { parseClientArgs } from './cli.js';

/**
 * `pushprox-client` entry. Exit codes: 2 usage error (bad or unknown flag),
 * 1 configuration or startup error, 0 after a clean shutdown on a stop
 * signal (SIGTERM/SIGINT; on Windows Ctrl-C, Ctrl-Break or closing the
 * console: signalPlan). A second signal during shutdown exits 1 at once.
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
  // Imported once the flags are parsed: --help, --version and usage errors load no HTTP client or metrics.
  const [{ resolveConfig }, { startClient }] = await Promise.all([import('./config.js'), import('./client.js')]);
  let config;
  try {
    config = await resolveConfig(args);
  } catch (err) {
    process.stderr.write(`error: ${messageOf(err)}\n`);
    process.exit(1);
  }
  const client = await startClient(config, { logger, version });
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
  const signals = signalPlan();
  for (const signal of signals.stop) process.on(signal, onSignal);
  // SIGHUP re-reads the --tls.* files (renewed certificates) and the module files without a restart; each reload logs its own failure.
  if (signals.reload) {
    process.on(signals.reload, () => {
      void client.reloadTls().catch(() => undefined);
      void client.reloadModules().catch(() => undefined);
    });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`error: ${messageOf(err)}\n`);
  process.exit(1);
});
