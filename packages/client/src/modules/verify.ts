import { Transform, type TransformCallback } from 'node:stream';
import { ExporterBodyError } from '../scraping/exporter-body.js';

/**
 * Streaming check that a module's output is Prometheus text format 0.0.4 or
 * OpenMetrics 1.0, line by line, in bounded memory (one partial line and the
 * held-back start). The first VERIFY_HOLD_BYTES are held back before any byte
 * leaves: output that fails (or a module that fails) within them becomes a
 * complete error response whose status line names the bad line, which
 * Prometheus shows on its targets page. Past them, a bad line ends the body
 * with an error, so the push is cut (channel ABORT, or a chunked push that
 * never ends) and the proxy never presents it as a complete 200.
 */

/** Output held back before the first byte is passed on. */
export const VERIFY_HOLD_BYTES = 256 * 1024;
/** Longest line accepted. */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Longest excerpt of a bad line quoted in the error. */
const EXCERPT_CHARS = 80;

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const QSTR = '"(?:[^"\\\\]|\\\\.)*"';
const LABEL = `(?:[a-zA-Z_][a-zA-Z0-9_]*|${QSTR})\\s*=\\s*${QSTR}`;
const ITEM = `(?:${LABEL}|${QSTR})`;
const LABELS = `\\{\\s*(?:${ITEM}\\s*(?:,\\s*${ITEM}\\s*)*,?\\s*)?\\}`;
// Go's strconv.ParseFloat, which both Prometheus parsers use: decimal, hex, Inf, NaN.
const VALUE = '[+-]?(?:\\d+\\.?\\d*(?:[eE][+-]?\\d+)?|\\.\\d+(?:[eE][+-]?\\d+)?|0[xX][0-9a-fA-F.]+(?:[pP][+-]?\\d+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN])';
const TS = '[+-]?\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?';
const SAMPLE = new RegExp(
  `^(?:${NAME}[ \\t]*(?:${LABELS})?|${LABELS})[ \\t]+${VALUE}(?:[ \\t]+${TS})?(?:[ \\t]*#[ \\t]*${LABELS}[ \\t]+${VALUE}(?:[ \\t]+${TS})?)?[ \\t]*$`,
);
const TYPES = 'counter|gauge|histogram|gaugehistogram|summary|untyped|unknown|stateset|info';
const TYPE_LINE = new RegExp(`^#[ \\t]+TYPE[ \\t]+(?:${NAME}|${QSTR})[ \\t]+(?:${TYPES})[ \\t]*$`);
const META_LINE = new RegExp(`^#[ \\t]+(?:HELP|UNIT)[ \\t]+(?:${NAME}|${QSTR})(?:[ \\t].*)?$`);
const META_START = /^#[ \t]+(HELP|TYPE|UNIT)\b/;

/** Why `line` (no line break) is not valid exposition text, or undefined if it is. */
export function checkLine(line: string): string | undefined {
  if (line === '') return undefined;
  if (line.charCodeAt(0) === 35 /* # */) {
    const meta = META_START.exec(line);
    if (!meta) return undefined; // a comment (0.0.4) or `# EOF` (OpenMetrics)
    if (meta[1] === 'TYPE') return TYPE_LINE.test(line) ? undefined : `bad # TYPE line (expected "# TYPE <name> <${TYPES.replaceAll('|', '|')}>")`;
    return META_LINE.test(line) ? undefined : `bad # ${meta[1]} line (expected "# ${meta[1]} <name> <text>")`;
  }
  return SAMPLE.test(line) ? undefined : 'expected a sample "<name>[{labels}] <value> [timestamp]", a "#" line or an empty line';
}

function excerpt(line: string): string {
  return JSON.stringify(line.length > EXCERPT_CHARS ? `${line.slice(0, EXCERPT_CHARS)}…` : line);
}

export class VerifyStream extends Transform {
  readonly #module: string;
  #lineNo = 0;
  /** Bytes of a line not yet ended. */
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #held: Buffer[] | undefined = [];
  #heldBytes = 0;
  #eof = false;

  constructor(module: string) {
    super();
    this.#module = module;
  }

  #fail(reason: string, line?: string): ExporterBodyError {
    const where = line === undefined ? '' : ` at line ${this.#lineNo}: ${excerpt(line)}`;
    return new ExporterBodyError(`module ${this.#module}: invalid metrics output${where}: ${reason}`);
  }

  #checkLine(bytes: Buffer): ExporterBodyError | undefined {
    this.#lineNo++;
    let line = bytes.toString('latin1');
    if (line.endsWith('\r')) line = line.slice(0, -1);
    // Leading blanks are skipped, as Prometheus' parsers do; a false failure would hide good output.
    if (line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9) line = line.replace(/^[ \t]+/, '');
    if (this.#eof) return line === '' ? undefined : this.#fail('text after "# EOF"', line);
    if (line === '# EOF') {
      this.#eof = true;
      return undefined;
    }
    const why = checkLine(line);
    return why === undefined ? undefined : this.#fail(why, Buffer.from(line, 'latin1').toString('utf8'));
  }

  #emit(chunk: Buffer): void {
    if (this.#held === undefined) {
      this.push(chunk);
      return;
    }
    this.#held.push(chunk);
    this.#heldBytes += chunk.length;
    if (this.#heldBytes >= VERIFY_HOLD_BYTES) this.#release();
  }

  #release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const c of held) this.push(c);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      const line = this.#partialBytes === 0 ? piece : Buffer.concat([...this.#partial, piece]);
      this.#partial = [];
      this.#partialBytes = 0;
      const err = this.#checkLine(line);
      if (err) return done(err);
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.#partial.push(chunk.subarray(start));
      this.#partialBytes += chunk.length - start;
      if (this.#partialBytes > MAX_LINE_BYTES) return done(this.#fail(`line ${this.#lineNo + 1} is longer than ${MAX_LINE_BYTES} bytes`));
    }
    this.#emit(chunk);
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.#partialBytes > 0) {
      const err = this.#checkLine(Buffer.concat(this.#partial));
      if (err) return done(err);
    }
    this.#release();
    done();
  }
}
