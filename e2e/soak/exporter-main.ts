import { startExporter } from '../src/exporter.js';

/**
 * The e2e exporter (src/exporter.ts) in a process of its own, so that the
 * soak can count its descriptors and memory and see it exit: /metrics
 * answers the demo body, /big?bytes=N streams N bytes. `--port=N` (default
 * any); prints `ready <port>` once listening on 127.0.0.1.
 */
const portArg = process.argv.slice(2).find((a) => a.startsWith('--port='));
const exporter = await startExporter({ port: portArg ? Number(portArg.slice('--port='.length)) : 0 });
process.stdout.write(`ready ${exporter.port}\n`);
process.on('SIGTERM', () => void exporter.close().then(() => process.exit(0)));
