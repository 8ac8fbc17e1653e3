/** The soak's command line, resolved once into a frozen object. */
export interface SoakOptions {
  /** How long the mixed traffic runs. Default 5 minutes. */
  readonly minutes: number;
  /** Print the report as one JSON object instead of text. Default false. */
  readonly json: boolean;
}

const USAGE = 'usage: npm run soak -- [--minutes N] [--json]';

/** Parses `--minutes N`, `--minutes=N` and `--json`; throws naming what was expected and what arrived. */
export function parseSoakOptions(argv: readonly string[]): SoakOptions {
  let minutes = 5;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = true;
    else if (a === '--minutes' || a.startsWith('--minutes=')) {
      const raw = a === '--minutes' ? argv[++i] : a.slice('--minutes='.length);
      const n = Number(raw);
      // A 24 h cap keeps every loop of the soak bounded in time.
      if (!Number.isFinite(n) || n <= 0 || n > 24 * 60) throw new Error(`--minutes: expected a number of minutes in (0, 1440], got ${JSON.stringify(raw)}\n${USAGE}`);
      minutes = n;
    } else throw new Error(`expected --minutes N or --json, got ${JSON.stringify(a)}\n${USAGE}`);
  }
  return Object.freeze({ minutes, json });
}
