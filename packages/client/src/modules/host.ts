import { finished, pipeline } from 'node:stream';
import { Gauge, type Registry } from 'prom-client';
import type { Agent, Dispatcher } from 'undici';
import { formatDuration, messageOf, type ClientModuleMeta, type Logger, type WireHeaders } from '@pushprox/shared';
import type { AbortToken } from '../scraping/abort-token.js';
import { ExecRunner } from './exec-runner.js';
import { runFile } from './file-runner.js';
import { moduleDispatcher, needsOwnDispatcher, runHttp } from './http-runner.js';
import { expexpListing, missingModule, oitcListing, unknownExporter, unknownModule } from './listing.js';
import { loadModuleSet, type ModuleSources } from './load.js';
import type { ModuleRoute } from './route.js';
import { moduleMeta, type ModuleConfig, type ModuleReloadState, type ModuleResponse, type ModuleResult, type ModuleSet } from './types.js';
import { VerifyStream } from './verify.js';

export interface ModuleAsk {
  readonly headers: WireHeaders;
  /** The scrape's own abort (deadline, client stop, scraper gone). */
  readonly signal: AbortToken;
  /** Time left for the module to answer, in ms; a module `timeout` may shorten it. */
  readonly budgetMs: number;
}

interface Loaded {
  readonly set: ModuleSet;
  /** Dispatchers of modules with their own TLS settings, closed when the set is replaced. */
  readonly agents: ReadonlyMap<string, Agent>;
}

/**
 * The modules in force and what answers them. A reload (SIGHUP, POST
 * /-/reload) reads every source again and swaps the whole set at once; a bad
 * file keeps the old set, logs the error and sets
 * pushprox_client_config_last_reload_successful to 0. Scrapes running during
 * a swap finish on the set they started with.
 */
export class ModuleHost {
  readonly #sources: ModuleSources;
  readonly #logger: Logger;
  readonly #targets: Dispatcher;
  readonly #exec: ExecRunner;
  readonly #ok: Gauge;
  readonly #okAt: Gauge;
  readonly #onResult: ((r: ModuleResult) => void) | undefined;
  #loaded: Loaded;
  #lastReload: ModuleReloadState = { ok: true, at: Date.now() };
  #reloading: Promise<void> = Promise.resolve();

  private constructor(sources: ModuleSources, loaded: Loaded, deps: ModuleHostDeps) {
    this.#sources = sources;
    this.#loaded = loaded;
    this.#logger = deps.logger;
    this.#targets = deps.targets;
    this.#exec = new ExecRunner(deps.execConcurrency);
    this.#onResult = deps.onResult;
    this.#ok = new Gauge({ name: 'pushprox_client_config_last_reload_successful', help: 'Whether the last module configuration reload attempt was successful', registers: [deps.registry] });
    this.#okAt = new Gauge({ name: 'pushprox_client_config_last_reload_success_timestamp_seconds', help: 'Timestamp of the last successful module configuration reload', registers: [deps.registry] });
    this.#ok.set(1);
    this.#okAt.set(Date.now() / 1000);
  }

  /** Loads the sources; throws CONFIG_INVALID (the client does not start) on any error. */
  static async start(sources: ModuleSources, deps: ModuleHostDeps): Promise<ModuleHost> {
    return new ModuleHost(sources, await load(sources, deps.logger), deps);
  }

  get set(): ModuleSet {
    return this.#loaded.set;
  }

  /** The last reload attempt: the status page shows a failed one with its reason. */
  get lastReload(): ModuleReloadState {
    return this.#lastReload;
  }

  /** For the client-metadata header: style `expexp` for YAML modules, `oitc` for .ini ones. */
  meta(): ClientModuleMeta[] {
    return moduleMeta(this.#loaded.set);
  }

  /** Reloads run one at a time; rejects (old set kept) on a bad file. */
  reload(): Promise<void> {
    const next = this.#reloading.then(async () => {
      let loaded: Loaded;
      try {
        loaded = await load(this.#sources, this.#logger);
      } catch (err) {
        this.#ok.set(0);
        this.#lastReload = { ok: false, at: Date.now(), error: messageOf(err) };
        this.#logger.error('Module configuration reload failed; still using the previous modules', { err: messageOf(err) });
        throw err;
      }
      const old = this.#loaded;
      this.#loaded = loaded;
      this.#ok.set(1);
      this.#okAt.set(Date.now() / 1000);
      this.#lastReload = { ok: true, at: Date.now() };
      this.#logger.info('Reloaded module configuration', { modules: [...loaded.set.modules.keys()].join(',') });
      closeAgents(old);
    });
    this.#reloading = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.#reloading;
    closeAgents(this.#loaded);
  }

  /** The answer to a module route: a listing, an error text, or the module's (verified) output. */
  async answer(route: ModuleRoute, ask: ModuleAsk): Promise<ModuleResponse> {
    const { set, agents } = this.#loaded;
    if (route.kind === 'list') return route.style === 'expexp' ? expexpListing(set, ask.headers.getAll('accept').some((v) => v.trim() === 'application/json')) : oitcListing(set);
    const name = route.name ?? (route.style === 'expexp' ? set.defaultModule : undefined);
    if (name === undefined) return missingModule();
    const m = set.modules.get(name);
    if (!m) return route.style === 'expexp' ? unknownModule(name) : unknownExporter();
    return this.#run(m, route, ask, agents.get(m.name) ?? this.#targets);
  }

  async #run(m: ModuleConfig, route: ModuleRoute & { kind: 'module' }, ask: ModuleAsk, dispatcher: Dispatcher): Promise<ModuleResponse> {
    const started = performance.now();
    const ctl = new AbortController();
    const own = m.timeoutMs > 0 && m.timeoutMs < ask.budgetMs;
    // setTimeout takes at most 2^31-1 ms; a scraper may ask for more (direct mode's timeout header).
    const ms = Math.min(Math.max(0, own ? m.timeoutMs : ask.budgetMs), 2 ** 31 - 1);
    const timer = setTimeout(() => ctl.abort(new Error(`timeout after ${formatDuration(ms)}${own ? ' (module timeout)' : ''}`)), ms);
    const onOuter = (): void => ctl.abort(ask.signal.reason ?? new Error('scrape aborted'));
    if (ask.signal.aborted) onOuter();
    else ask.signal.once('abort', onOuter);
    const done = (): void => {
      clearTimeout(timer);
      ask.signal.removeListener('abort', onOuter);
    };
    let res: ModuleResponse;
    try {
      res =
        m.method === 'exec'
          ? await this.#exec.run(m, { extraArgs: route.args, signal: ctl.signal, logger: this.#logger })
          : m.method === 'file'
            ? await runFile(m, ctl.signal)
            : await runHttp(m, { dispatcher, headers: ask.headers, extraQuery: route.extraQuery, signal: ctl.signal });
    } catch (err) {
      done();
      this.#report(m.name, 0, started, messageOf(err));
      throw err;
    }
    res.body.once('close', done);
    const ok = res.statusCode >= 200 && res.statusCode <= 299;
    const out = !m.verify || !ok ? res : { ...res, headers: res.headers, body: pipeline(res.body, new VerifyStream(m.name), () => undefined) };
    if (this.#onResult) {
      const status = ok ? undefined : `the module answered ${res.statusCode} ${res.statusText}`.trimEnd();
      // finished() adds an 'error' listener of its own; the reader keeps its own too.
      finished(out.body, (err) => this.#report(m.name, res.statusCode, started, err ? cutReason(err, ctl.signal) : status));
    }
    return out;
  }

  #report(name: string, status: number, started: number, error: string | undefined): void {
    this.#onResult?.({ name, status, durationMs: performance.now() - started, ...(error !== undefined && { error }) });
  }
}

export interface ModuleHostDeps {
  readonly logger: Logger;
  /** Where the client's metrics are registered (the reload gauges). */
  readonly registry: Registry;
  /** The targets' dispatcher, for http modules without TLS settings of their own. */
  readonly targets: Dispatcher;
  /** Default DEFAULT_EXEC_CONCURRENCY. */
  readonly execConcurrency?: number;
  /** Told how each module run ended (the status page). Default none. */
  readonly onResult?: (r: ModuleResult) => void;
}

async function load(sources: ModuleSources, logger: Logger): Promise<Loaded> {
  const set = await loadModuleSet(
    sources,
    (file) => logger.warn('Skipping non-yaml file in --config.dirs', { file }),
    (msg) => logger.warn(msg),
  );
  const agents = new Map<string, Agent>();
  try {
    for (const m of set.modules.values()) {
      if (m.method === 'http' && needsOwnDispatcher(m)) agents.set(m.name, await moduleDispatcher(m));
    }
  } catch (err) {
    closeAgents({ set, agents });
    throw err;
  }
  if (set.modules.size === 0) logger.error('no modules loaded from any config file');
  return { set, agents };
}

/** Why a module's output did not end: the abort's reason (timeout, scrape gone), else the stream's error. */
function cutReason(err: NodeJS.ErrnoException, signal: AbortSignal): string {
  if (signal.aborted) return messageOf(signal.reason);
  return err.code === 'ERR_STREAM_PREMATURE_CLOSE' ? 'the output was cut before its end (the scrape ended)' : messageOf(err);
}

function closeAgents(loaded: Loaded): void {
  // close() lets requests running now finish.
  for (const a of loaded.agents.values()) a.close().catch(() => undefined);
}
