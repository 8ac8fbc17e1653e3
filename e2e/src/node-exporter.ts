import { BINARIES } from './binaries.js';
import { waitListening } from './ports.js';
import { Proc } from './procs.js';

/** Debian's prometheus-node-exporter on `host:port`, optionally with a --web.config.file (TLS). */
export async function startNodeExporter(host: string, port: number, webConfigFile?: string): Promise<Proc> {
  const args = [`--web.listen-address=${host}:${port}`, '--log.level=warn'];
  if (webConfigFile) args.push(`--web.config.file=${webConfigFile}`);
  const p = new Proc(`node_exporter ${host}:${port}`, BINARIES.nodeExporter, args);
  await waitListening(host, port, 15_000);
  return p;
}
