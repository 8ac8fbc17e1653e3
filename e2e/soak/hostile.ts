import * as act from './hostile-actions.js';
import { LARGE_BYTES } from './scraper.js';
import { pick, sleep, Tally } from './tally.js';
import type { ProxyEnd, Topology } from './topology.js';

/** One kind of hostile traffic: which proxies it aims at, how often it is picked, how many may run at once. */
interface Kind {
  readonly name: string;
  readonly run: (a: act.Aim) => Promise<string>;
  readonly weight: number;
  readonly maxAtOnce: number;
  readonly proxies: (p: ProxyEnd) => boolean;
}

const any = (): boolean => true;
const tlsOnly = (p: ProxyEnd): boolean => p.ca !== undefined;
const withAuth = (p: ProxyEnd): boolean => p.basic !== undefined;

const KINDS: readonly Kind[] = [
  { name: 'CONNECT then reset', run: act.connectThenReset, weight: 4, maxAtOnce: 8, proxies: any },
  { name: 'request head cut (reset, half-close, stall)', run: act.cutHead, weight: 8, maxAtOnce: 16, proxies: any },
  { name: 'slow head (a line every 3-4 s)', run: act.slowHead, weight: 1, maxAtOnce: 6, proxies: any },
  { name: 'TLS never handshaking', run: act.tlsNoHandshake, weight: 2, maxAtOnce: 8, proxies: tlsOnly },
  { name: 'oversized /push (Content-Length 600000000)', run: act.oversizedPush, weight: 1, maxAtOnce: 2, proxies: any },
  { name: 'oversized scrape (exporter body over --push.max-body-size)', run: act.oversizedScrape, weight: 1, maxAtOnce: 1, proxies: any },
  { name: 'wrong basic-auth password', run: act.wrongPassword, weight: 3, maxAtOnce: 4, proxies: withAuth },
  { name: 'poll for a made-up FQDN', run: act.madeUpPoll, weight: 3, maxAtOnce: 8, proxies: any },
  { name: 'garbage channel frames', run: act.garbageChannel, weight: 3, maxAtOnce: 6, proxies: any },
  { name: 'scraper hangs up mid-body (8 MB)', run: (a) => act.hangUpMidBody(a, LARGE_BYTES), weight: 1, maxAtOnce: 2, proxies: any },
];

/** Hostile connections open at once, over all kinds. */
const MAX_AT_ONCE = 48;
/** A new hostile action is considered every TICK_MS (at most 1000 / TICK_MS a second). */
const TICK_MS = 150;
/** An action that has not ended this long after it began is abandoned in the report. */
const ACTION_CAP_MS = act.HOLD_CAP_MS + 20_000;

export interface HostileReport {
  readonly started: number;
  readonly by_kind: Record<string, { started: number; outcomes: Record<string, number> }>;
}

/**
 * Starts hostile actions of random kinds against random proxies (and, for
 * scrape-shaped ones, a real client's exporter) until `until` or `signal`,
 * within MAX_AT_ONCE and each kind's limit; then waits for the running
 * ones, each of which ends within ACTION_CAP_MS.
 */
export async function hostileLoop(t: Topology, until: number, signal: AbortSignal): Promise<HostileReport> {
  const running = new Map<string, number>();
  const started = new Map<string, number>();
  const outcomes = new Map<string, Tally>();
  const inFlight = new Set<Promise<void>>();
  const maxTicks = Math.ceil((until - Date.now()) / TICK_MS) + 1;
  for (let tick = 0; tick < maxTicks && Date.now() < until && !signal.aborted; tick++) {
    await sleep(TICK_MS, signal);
    if (inFlight.size >= MAX_AT_ONCE) continue;
    const kind = weighted(KINDS);
    if ((running.get(kind.name) ?? 0) >= kind.maxAtOnce) continue;
    const proxies = t.proxies.filter(kind.proxies);
    const clients = t.clients.filter((c) => proxies.includes(c.proxy));
    const client = pick(clients);
    const aim: act.Aim = { proxy: client.proxy, exporter: `http://${client.fqdn}:${t.exporterPort}`, signal };
    running.set(kind.name, (running.get(kind.name) ?? 0) + 1);
    started.set(kind.name, (started.get(kind.name) ?? 0) + 1);
    const tally = outcomes.get(kind.name) ?? new Tally();
    outcomes.set(kind.name, tally);
    const p = withCap(kind.run(aim), ACTION_CAP_MS)
      .then((o) => tally.add(`${client.proxy.name}: ${o}`), (err: unknown) => tally.add(`${client.proxy.name}: soak error ${(err as Error).message}`))
      .finally(() => {
        running.set(kind.name, running.get(kind.name)! - 1);
        inFlight.delete(p);
      });
    inFlight.add(p);
  }
  await Promise.all(inFlight);
  let total = 0;
  const byKind: HostileReport['by_kind'] = {};
  for (const k of KINDS) {
    const n = started.get(k.name) ?? 0;
    total += n;
    byKind[k.name] = { started: n, outcomes: outcomes.get(k.name)?.toJSON() ?? {} };
  }
  return { started: total, by_kind: byKind };
}

function weighted(kinds: readonly Kind[]): Kind {
  let r = Math.random() * kinds.reduce((n, k) => n + k.weight, 0);
  for (const k of kinds) if ((r -= k.weight) < 0) return k;
  return kinds.at(-1)!;
}

/** `p`, or a 'did not end' outcome after `ms` (the action's sockets are its own to close). */
function withCap(p: Promise<string>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<string>((r) => (timer = setTimeout(() => r(`did not end within ${ms / 1000} s`), ms)));
  return Promise.race([p, cap]).finally(() => clearTimeout(timer));
}
