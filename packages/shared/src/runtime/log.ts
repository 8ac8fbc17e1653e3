import winston from 'winston';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'logfmt' | 'json';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
export const LOG_FORMATS: readonly LogFormat[] = ['logfmt', 'json'];

export type LogFields = Readonly<Record<string, unknown>>;

/** The logging surface every component receives; nothing else of winston leaks. */
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

const logfmt = winston.format.printf((info) => {
  let line = `ts=${new Date().toISOString()} level=${info.level} msg=${logfmtValue(info.message)}`;
  for (const [k, v] of Object.entries(info)) {
    if (!RESERVED.has(k)) line += ` ${k}=${logfmtValue(v)}`;
  }
  return line;
});

const json = winston.format.printf((info) => {
  const { level, message, ...rest } = info;
  const out: Record<string, unknown> = { ts: new Date().toISOString(), level, msg: message };
  for (const [k, v] of Object.entries(rest)) out[k] = v instanceof Error ? v.message : v;
  return JSON.stringify(out);
});

class WinstonLogger implements Logger {
  readonly #w: winston.Logger;
  readonly debugEnabled: boolean;

  constructor(w: winston.Logger, debugEnabled: boolean) {
    this.#w = w;
    this.debugEnabled = debugEnabled;
  }

  debug(msg: string, fields?: LogFields): void {
    if (this.debugEnabled) this.#w.log('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.#w.log('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.#w.log('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.#w.log('error', msg, fields);
  }
  child(fields: LogFields): Logger {
    return new WinstonLogger(this.#w.child(fields), this.debugEnabled);
  }
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const w = winston.createLogger({
    levels: LEVEL_NUM,
    level,
    format: opts.format === 'json' ? json : logfmt,
    transports: [new winston.transports.Stream({ stream: opts.stream ?? process.stderr })],
  });
  return new WinstonLogger(w, LEVEL_NUM[level] >= LEVEL_NUM.debug);
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
