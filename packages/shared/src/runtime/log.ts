export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'logfmt' | 'json';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
export const LOG_FORMATS: readonly LogFormat[] = ['logfmt', 'json'];

export type LogFields = Readonly<Record<string, unknown>>;

/** The logging surface every component receives. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
  /** True when debug lines are written; lets hot paths skip building fields. */
  readonly debugEnabled: boolean;
}

export interface LoggerOptions {
  /** Default 'info'. */
  readonly level?: LogLevel;
  /** Default 'logfmt', like Prometheus' own logs. */
  readonly format?: LogFormat;
  /** Default process.stderr, as Prometheus components log. */
  readonly stream?: NodeJS.WritableStream;
}

const LEVEL_NUM: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

/** logfmt value quoting: bare when it is a plain token, else a JSON string. */
function logfmtValue(v: unknown): string {
  let s: string;
  if (v instanceof Error) s = v.message;
  else if (typeof v === 'string') s = v;
  else if (v === undefined) s = '';
  else if (typeof v === 'object' && v !== null) s = JSON.stringify(v);
  else s = String(v);
  return s !== '' && /^[^\s"=\\\x00-\x1f\x7f]+$/.test(s) ? s : JSON.stringify(s);
}

const RESERVED = new Set(['level', 'message', 'ts']);

/** A log line's fields in order: the child loggers' (outermost first), then the call's, then level and message. */
type Info = Record<string, unknown> & { level: LogLevel; message: string };

function logfmt(info: Info): string {
  let line = `ts=${new Date().toISOString()} level=${info.level} msg=${logfmtValue(info.message)}`;
  for (const [k, v] of Object.entries(info)) {
    if (!RESERVED.has(k)) line += ` ${k}=${logfmtValue(v)}`;
  }
  return line;
}

function json(info: Info): string {
  const { level, message, ...rest } = info;
  const out: Record<string, unknown> = { ts: new Date().toISOString(), level, msg: message };
  for (const [k, v] of Object.entries(rest)) out[k] = v instanceof Error ? v.message : v;
  return JSON.stringify(out);
}

/**
 * One line per call, written at once to the stream. The lines are those the
 * winston logger this replaces wrote (winston cost a client 45 ms of start-up
 * and about 1 MB of heap for this one job), quirks included: a `message`
 * field is appended to the message after a space, and a field named like a
 * child's field replaces its value in the child's place.
 */
class LineLogger implements Logger {
  readonly #write: (line: string) => void;
  readonly #format: (info: Info) => string;
  readonly #max: number;
  readonly #fields: LogFields;
  readonly debugEnabled: boolean;

  constructor(write: (line: string) => void, format: (info: Info) => string, max: number, fields: LogFields) {
    this.#write = write;
    this.#format = format;
    this.#max = max;
    this.#fields = fields;
    this.debugEnabled = max >= LEVEL_NUM.debug;
  }

  #log(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    if (LEVEL_NUM[level] > this.#max) return;
    const info = Object.assign({}, this.#fields, fields, { level, message: msg }) as Info;
    if (fields?.['message']) info.message = `${msg} ${String(fields['message'])}`;
    this.#write(`${this.#format(info)}\n`);
  }

  debug(msg: string, fields?: LogFields): void {
    this.#log('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.#log('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.#log('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.#log('error', msg, fields);
  }
  child(fields: LogFields): Logger {
    return new LineLogger(this.#write, this.#format, this.#max, { ...this.#fields, ...fields });
  }
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const stream = opts.stream ?? process.stderr;
  const write = (line: string): void => void stream.write(line);
  return new LineLogger(write, opts.format === 'json' ? json : logfmt, LEVEL_NUM[opts.level ?? 'info'], {});
}

/** A logger that drops everything; for library users and tests that do not read logs. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
  debugEnabled: false,
};
