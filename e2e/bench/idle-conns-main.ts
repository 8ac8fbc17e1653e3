import { idleConns } from './idle-conns.js';

/**
 * Built-in idle clients on channels in a process of their own, so that more
 * connections than one process may hold (its descriptor limit) can be spread
 * over several: `--port=P --from=A --to=B` connects clients A to B-1 to the
 * proxy on 127.0.0.1:P and keeps them until SIGTERM. Prints `started`.
 */
const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const conns = idleConns('channel', Number(args.get('port')));
const from = Number(args.get('from'));
const to = Number(args.get('to'));
for (let i = from; i < to; i++) {
  conns.connect(i);
  if (i % 500 === 499) await new Promise((r) => setImmediate(r));
}
process.stdout.write('started\n');
process.on('SIGTERM', () => {
  conns.stop();
  process.exit(0);
});
