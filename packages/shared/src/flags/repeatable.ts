/**
 * Flags that may be given more than once (`--proxy-url=a --proxy-url=b`):
 * parseOrExit joins their values with commas into one `--flag=a,b` before
 * yargs sees them, so each stays a plain string option (a yargs array option
 * would swallow the words after it) and the program splits the list. Every
 * other flag given twice is still refused.
 */
const REPEATABLE = new WeakMap<object, ReadonlySet<string>>();

/** Marks `names` of `parser` (made by baseCli) as repeatable. Returns the parser, for chaining. */
export function repeatable<P extends object>(parser: P, ...names: string[]): P {
  REPEATABLE.set(parser, new Set([...(REPEATABLE.get(parser) ?? []), ...names]));
  return parser;
}

export function repeatableOf(parser: object): ReadonlySet<string> {
  return REPEATABLE.get(parser) ?? new Set();
}

/** argv with every repeatable flag's occurrences (`--f=v`, `--f v`) joined into one `--f=v1,v2` at the first's place. */
export function joinRepeated(argv: readonly string[], names: ReadonlySet<string>): string[] {
  if (names.size === 0) return [...argv];
  const values = new Map<string, string[]>();
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const m = /^--([^=\s]+)(?:=(.*))?$/s.exec(arg);
    if (!m || !names.has(m[1]!)) {
      out.push(arg);
      continue;
    }
    let value = m[2];
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('-')) value = '';
      else {
        value = next;
        i++;
      }
    }
    const list = values.get(m[1]!);
    if (list) list.push(value);
    else {
      values.set(m[1]!, [value]);
      out.push(`\0${m[1]}`);
    }
  }
  return out.map((a) => (a.startsWith('\0') ? `--${a.slice(1)}=${values.get(a.slice(1))!.join(',')}` : a));
}
