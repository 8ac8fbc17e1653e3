import yargs, { type Argv } from 'yargs';
import { parseDuration } from './duration.js';
import { parseByteSize } from './size.js';
import { parseListenAddress, type ListenAddress } from './address.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../runtime/log.js';
import { rewriteGoStyleFlags, unknownFlagMessage, type KnownFlags } from './flag-names.js';

/**
 * The argv each parser made by baseCli was given, read back by parseOrExit,
 * which can check flag names only once every option is declared. yargs'
 * builder methods return the same instance, so the key survives chaining.
 */
const ARGV = new WeakMap<object, readonly string[]>();

/**
 * Shared yargs setup for both programs. Flags keep upstream's dotted names
 * (`--web.listen-address`), so yargs' dot-notation and camel-case expansion are
 * off; unknown flags are errors (kingpin rejects them too), named with the
 * closest known flag; Go-style `-web.listen-address` is accepted. Parse with
 * parseOrExit, which applies those two rules and refuses repeated flags.
 */
export function baseCli(argv: readonly string[], scriptName: string, version: string): Argv {
  const parser = yargs([...argv])
    .scriptName(scriptName)
    .parserConfiguration({ 'dot-notation': false, 'camel-case-expansion': false, 'duplicate-arguments-array': true })
    .strict()
    .version(version)
    .help()
    .alias('h', 'help')
    .wrap(Math.min(120, process.stdout.columns || 100))
    .option('log.level', {
      type: 'string',
      choices: LOG_LEVELS as LogLevel[],
      default: 'info' as LogLevel,
      describe: 'Only log messages with the given severity or above.',
    })
    .option('log.format', {
      type: 'string',
      choices: LOG_FORMATS as LogFormat[],
      default: 'logfmt' as LogFormat,
      describe: 'Output format of log messages.',
    });
  ARGV.set(parser, argv);
  return parser;
}

/** Flags a parser lets the user repeat (allowRepeated); parseOrExit refuses any other flag given twice. */
const REPEATABLE = new WeakMap<object, ReadonlySet<string>>();

/**
 * Lets `flags` be given more than once (`--label a=1 --label b=2`): yargs
 * then hands their coerce a string[] instead of a string (see listFlag).
 * Every other flag given twice is still refused by parseOrExit.
 */
export function allowRepeated<T>(parser: Argv<T>, ...flags: string[]): Argv<T> {
  REPEATABLE.set(parser, new Set([...(REPEATABLE.get(parser) ?? []), ...flags]));
  return parser;
}

/**
 * The values of a repeatable flag whose values may also be comma-separated
 * (`--proxy-url=a --proxy-url=b,c`), trimmed, empty ones dropped; [] when
 * the flag is absent. Only for values that cannot contain a comma (URLs).
 */
export function commaList(v: unknown): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).flatMap((x) => String(x).split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

/** A yargs `coerce` for a repeatable flag: each value parsed by `parse` (naming the flag on failure), in order. */
export function listFlag<T>(flag: string, parse: (s: string) => T): (v: unknown) => T[] {
  const one = coerceWith(flag, parse);
  return (v: unknown) => (Array.isArray(v) ? v : [v]).map((x) => one(x));
}

/** Names of flags that occur more than once in argv (`--a=1 --a 2`), before a `--`. */
export function repeatedFlags(argv: readonly string[]): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const arg of argv) {
    if (arg === '--') break;
    const m = /^--([^=\s]+)/.exec(arg);
    if (!m) continue;
    if (seen.has(m[1]!)) twice.add(m[1]!);
    seen.add(m[1]!);
  }
  return [...twice];
}

/** Error that names the flag, what was expected and what arrived. */
function flagError(flag: string, err: unknown): Error {
  return new Error(`invalid value for --${flag}: ${err instanceof Error ? err.message : String(err)}`);
}

/**
 * A yargs `coerce` that parses a flag's string value and, on failure, names
 * the flag, what was expected and what arrived. Repeated flags never reach it
 * (parseOrExit refuses them) unless allowed, and those use listFlag, so the
 * value is a single string.
 */
export function coerceWith<T>(flag: string, parse: (s: string) => T): (v: unknown) => T {
  return (v: unknown) => {
    try {
      return parse(String(v));
    } catch (err) {
      throw flagError(flag, err);
    }
  };
}

export const durationFlag = (flag: string) => coerceWith(flag, parseDuration);
export const byteSizeFlag = (flag: string) => coerceWith(flag, parseByteSize);
export const listenAddressFlag = (flag: string) =>
  coerceWith<ListenAddress>(flag, (s) => parseListenAddress(s));
export const positiveIntFlag = (flag: string, max: number) =>
  coerceWith(flag, (s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1 || n > max) {
      throw new Error(`expected a whole number from 1 to ${max}, got ${JSON.stringify(s)}`);
    }
    return n;
  });

interface YargsOptions {
  readonly key: Readonly<Record<string, unknown>>;
  readonly alias: Readonly<Record<string, unknown>>;
  readonly boolean: readonly string[];
}

function knownFlags(parser: Argv<unknown>): KnownFlags {
  // getOptions() is public in yargs but missing from its type declarations.
  const o = (parser as unknown as { getOptions(): YargsOptions }).getOptions();
  return {
    names: new Set([...Object.keys(o.key), ...Object.keys(o.alias)]),
    booleans: new Set(o.boolean),
  };
}

function exitUsage(msg: string): never {
  process.stderr.write(`error: ${msg}\n`);
  process.stderr.write(`Run with --help for the list of flags.\n`);
  process.exit(2);
}

/**
 * Runs a CLI parse; usage errors exit 2 with a message, like kingpin. Before
 * yargs: Go-style single-dash long flags become `--name`; an unknown flag is
 * refused naming the closest known one (unless help is asked for); a flag
 * given twice is refused (kingpin refuses it; taking one would hide a typo).
 */
export async function parseOrExit<T>(parser: Argv<T>): Promise<T> {
  const given = ARGV.get(parser);
  const known = knownFlags(parser as Argv<unknown>);
  const argv = given === undefined ? undefined : rewriteGoStyleFlags(given, known);
  if (argv !== undefined) {
    const end = argv.indexOf('--');
    const flags = end < 0 ? argv : argv.slice(0, end);
    const unknown = flags.includes('--help') || flags.includes('-h') ? undefined : unknownFlagMessage(argv, known);
    if (unknown !== undefined) exitUsage(unknown);
    const allowed = REPEATABLE.get(parser) ?? new Set<string>();
    const repeated = repeatedFlags(argv).filter((f) => !allowed.has(f));
    if (repeated.length > 0) exitUsage(`flag ${repeated.map((f) => `--${f}`).join(', ')} given more than once; give each flag once`);
  }
  parser.fail((msg, err) => exitUsage(err?.message ?? msg));
  return (await (argv === undefined ? parser.parseAsync() : parser.parseAsync([...argv]))) as T;
}
