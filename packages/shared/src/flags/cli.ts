import yargs, { type Argv } from 'yargs';
import { parseDuration } from './duration.js';
import { parseByteSize } from './size.js';
import { parseListenAddress, type ListenAddress } from './address.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../runtime/log.js';

/**
 * Shared yargs setup for both programs. Flags keep upstream's dotted names
 * (`--web.listen-address`), so yargs' dot-notation and camel-case expansion are
 * off; unknown flags are errors (kingpin rejects them too).
 */
export function baseCli(argv: readonly string[], scriptName: string, version: string): Argv {
  const repeated = repeatedFlags(argv);
  return yargs([...argv])
    .scriptName(scriptName)
    .parserConfiguration({ 'dot-notation': false, 'camel-case-expansion': false, 'duplicate-arguments-array': false })
    .strict()
    .check(() => {
      // kingpin refuses a repeated flag; silently taking one of them would hide a typo.
      if (repeated.length > 0) throw new Error(`flag ${repeated.map((f) => `--${f}`).join(', ')} given more than once; give each flag once`);
      return true;
    })
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
 * (baseCli refuses them), so the value is a single string.
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

/** Runs a CLI parse; usage errors exit 2 with yargs' message, like kingpin. */
export async function parseOrExit<T>(parser: Argv<T>): Promise<T> {
  return (await parser
    .fail((msg, err) => {
      process.stderr.write(`error: ${err?.message ?? msg}\n`);
      process.stderr.write(`Run with --help for the list of flags.\n`);
      process.exit(2);
    })
    .parseAsync()) as T;
}
