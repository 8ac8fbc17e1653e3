import { BINARIES } from './binaries.js';
import { getUrl } from './http.js';
import { freePort, waitListening } from './ports.js';
import { Proc } from './procs.js';

/** One nats-server of a test cluster; restartable on the same ports. */
export interface NatsNode {
  readonly name: string;
  readonly port: number;
  readonly clusterPort: number;
  readonly monitorPort: number;
  /** Where the monitor listens: nats-server binds it to the client address (-a). Default 127.0.0.1. */
  readonly monitorHost?: string;
  readonly url: string;
  proc: Proc;
}

export interface NatsCluster {
  readonly nodes: NatsNode[];
  /** Every client URL, comma-separated, for --cluster.nats-url. */
  readonly urls: string;
  /** (Re)starts node `i` on its ports and waits until it routes to every other running node. */
  start(i: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `size` nats-servers on loopback with routes between them (each lists every
 * other's cluster port), free ports, and `extraArgs` (e.g. `-c file`) on each.
 */
export async function startNatsCluster(size = 3, extraArgs: readonly string[] = []): Promise<NatsCluster> {
  const nodes: NatsNode[] = [];
  for (let i = 0; i < size; i++) {
    const port = await freePort();
    nodes.push({ name: `nats-${i}`, port, clusterPort: await freePort(), monitorPort: await freePort(), url: `nats://127.0.0.1:${port}`, proc: undefined! });
  }
  const start = async (i: number): Promise<void> => {
    const n = nodes[i]!;
    const routes = nodes.filter((o) => o !== n).map((o) => `nats://127.0.0.1:${o.clusterPort}`).join(',');
    const args = ['-a', '127.0.0.1', '-p', String(n.port), '-m', String(n.monitorPort), '-n', n.name, '--cluster_name', 'pushprox-test'];
    if (size > 1) args.push('-cluster', `nats://127.0.0.1:${n.clusterPort}`, '-routes', routes);
    n.proc = new Proc(n.name, BINARIES.natsServer, [...args, ...extraArgs]);
    try {
      await waitListening('127.0.0.1', n.port);
    } catch (err) {
      throw new Error(`${n.name} (pid ${n.proc.pid}, ${n.proc.running ? 'running' : 'exited'}): ${(err as Error).message}\n${n.proc.output}`);
    }
    await waitRoutes(n, nodes.filter((o) => o !== n && o.proc?.running).length);
  };
  for (let i = 0; i < size; i++) await start(i);
  // The first nodes started before the others existed: wait until all see all.
  for (const n of nodes) await waitRoutes(n, size - 1);
  return {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    start,
    stop: async () => {
      await Promise.all(nodes.map((n) => n.proc?.stop('SIGKILL', 5000)));
    },
  };
}

/** Waits until `node` has routes to at least `want` other servers (its /routez); bounded at 15 s. */
export async function waitRoutes(node: NatsNode, want: number, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await getUrl(`http://${node.monitorHost ?? '127.0.0.1'}:${node.monitorPort}/routez`, { timeoutMs: 2000 });
      const routes = (JSON.parse(r.body.toString()) as { routes?: Array<{ remote_id: string }> }).routes ?? [];
      if (new Set(routes.map((x) => x.remote_id)).size >= want) return;
    } catch {
      // not up yet
    }
    if (Date.now() > end) throw new Error(`${node.name} did not route to ${want} servers within ${timeoutMs} ms:\n${node.proc?.output ?? ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
