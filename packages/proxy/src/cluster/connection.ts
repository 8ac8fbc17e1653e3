import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { NodeConnectionOptions } from '@nats-io/transport-node';
import type { ClusterConfig } from './options.js';

/**
 * How long the client waits between reconnect attempts to the servers it
 * knows. Short: a killed NATS node is replaced by another within this, and
 * the publishes of the gap are held in the client's reconnect buffer.
 */
export const RECONNECT_WAIT_MS = 250;

/** Connection options from --cluster.* (files are read here, once, at start). */
export function connectOptions(config: ClusterConfig, name: string): NodeConnectionOptions {
  const tls =
    config.tlsCaFile !== undefined || config.tlsCertFile !== undefined
      ? {
          ...(config.tlsCaFile !== undefined && { caFile: config.tlsCaFile }),
          ...(config.tlsCertFile !== undefined && { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile! }),
        }
      : undefined;
  return {
    servers: [...config.natsUrls],
    name,
    // Never give up: a proxy serves its own clients alone until NATS is back.
    waitOnFirstConnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    reconnectJitter: 100,
    // A silent server (network cut, not a closed socket) is noticed within 2 pings.
    pingInterval: 5_000,
    maxPingOut: 2,
    timeout: 2_000,
    ...(config.user !== undefined && {
      user: config.user,
      pass: readFileSync(config.passwordFile!, 'utf8').replace(/\r?\n$/, ''),
    }),
    ...(config.credsFile !== undefined && { authenticator: credsAuthenticator(readFileSync(config.credsFile)) }),
    ...(tls && { tls }),
  };
}

/** Connects, retrying until it succeeds or `stopped()` (then the late connection is closed). */
export async function connectUntil(opts: NodeConnectionOptions, stopped: () => boolean): Promise<NatsConnection | undefined> {
  const nc = await connect(opts);
  if (stopped()) {
    await nc.close().catch(() => undefined);
    return undefined;
  }
  return nc;
}
