import type { Clock } from '../routing/clock.js';
import type { Coordinator } from '../routing/coordinator.js';
import type { ExtraRoute } from '../listeners/app.js';
import { FleetHistory } from './history.js';
import { createStatusRoutes, type FleetSource } from './routes.js';
import type { ListenerInfo, StatusInfoSources } from './status-info.js';

export interface ProxyStatusOptions
  extends Omit<StatusInfoSources, 'history' | 'registered' | 'waitingPollsOf' | 'listeners' | 'startedAt'> {
  readonly clock: Clock;
  /** Asked only once requests arrive (the coordinator is created after the history it reports polls to). */
  readonly coordinator: () => Pick<Coordinator, 'registry' | 'clientMeta' | 'waitingPollsOf'>;
  /** The rest of the fleet, when clustered. Default: none. */
  readonly fleet?: FleetSource;
}

/** The status page's state and routes for one proxy: the fleet history, the listeners as they open, the page and API. */
export class ProxyStatus {
  readonly history: FleetHistory;
  readonly listeners: ListenerInfo[] = [];
  readonly routes: ReadonlyMap<string, ExtraRoute>;

  constructor(opts: ProxyStatusOptions) {
    const { clock, coordinator } = opts;
    const startedAt = clock.now();
    this.history = new FleetHistory({ clock, isKnown: (key) => coordinator().registry.isKnown(key), maxClients: opts.maxClients });
    const routes = createStatusRoutes({
      clock,
      history: this.history,
      clientMeta: (fqdn) => coordinator().clientMeta(fqdn),
      ...(opts.fleet && { fleet: opts.fleet }),
      info: {
        ...opts,
        startedAt,
        listeners: () => this.listeners,
        history: this.history,
        registered: () => coordinator().registry.size,
        waitingPollsOf: (fqdn) => coordinator().waitingPollsOf(fqdn),
      },
    });
    this.routes = new Map([...routes].map(([path, handler]) => [path, { handler, guarded: true }]));
  }
}
