import { createLogger, messageOf } from '@pushprox/shared';
import { resolveProxyConfig } from './cli.js';
import { startProxy } from './server.js';

const config = await resolveProxyConfig(process.argv.slice(2));
const logger = createLogger({ level: config.logLevel, format: config.logFormat });
try {
  const proxy = await startProxy(config, { logger });
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
  logger.error('Listening failed', { err: messageOf(err) });
  process.exit(1);
}
