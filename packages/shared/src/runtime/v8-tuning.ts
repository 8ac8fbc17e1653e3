import v8 from 'node:v8';

/** How a program tiers its code; every option is off by default. */
export interface V8TuningOptions {
  /**
   * `--interrupt-budget` for TurboFan: a smaller budget optimizes a function
   * after fewer runs. Ignored when node was started with its own
   * `--interrupt-budget` (the operator's wins). Default: V8's (67,584 in
   * Node 20).
   */
  readonly interruptBudget?: number;
  /** node's own options, to see the operator's. Default process.execArgv. */
  readonly execArgv?: readonly string[];
}

/**
 * V8 tiering for a per-scrape path that runs rarely. At Prometheus' rates a
 * process sees one scrape every few seconds, so its per-scrape functions stay
 * in V8's interpreter for hours: TurboFan and even the Sparkplug baseline tier
 * wait for a budget of executed bytecode that a hot loop fills in a second.
 * `--always-sparkplug` compiles every function to baseline machine code when it
 * is first compiled. Measured with 20 real clients scraped every 2 s (BENCHMARKS.md,
 * Real scrape rates): client CPU per scrape 1.6-2.0 ms instead of 2.3-2.7 ms,
 * scrape p50 3.7-4.1 ms instead of 4.2-4.3 ms, RSS unchanged within noise.
 *
 * `interruptBudget` suits a process that runs the same path many times a
 * second in all (the proxy, which carries every target's scrapes): its
 * baseline code, which spends half its time in inline-cache stubs, reaches
 * TurboFan in minutes instead of tens of minutes. A client sees too few
 * scrapes for it: its functions, optimized early on thin feedback, cost more
 * CPU per scrape than they saved in a run with a budget of 4,096 (BENCHMARKS.md).
 *
 * Invariant: called once, first thing in a program's main(), before the
 * per-scrape code has run (functions compiled earlier keep their tier).
 */
export function tuneV8ForRareWork(options: V8TuningOptions = {}): void {
  v8.setFlagsFromString('--always-sparkplug');
  const flag = interruptBudgetFlag(options);
  if (flag !== undefined) v8.setFlagsFromString(flag);
}

/** The `--interrupt-budget` flag to set for `options`, or undefined to leave V8's (or the operator's). */
export function interruptBudgetFlag(options: V8TuningOptions): string | undefined {
  const budget = options.interruptBudget;
  if (budget === undefined) return undefined;
  if (!Number.isSafeInteger(budget) || budget <= 0) {
    throw new RangeError(`interruptBudget: expected a positive integer, got ${String(budget)}`);
  }
  const execArgv = options.execArgv ?? process.execArgv;
  return execArgv.some((a) => /^--interrupt[-_]budget(=|$)/.test(a)) ? undefined : `--interrupt-budget=${budget}`;
}
