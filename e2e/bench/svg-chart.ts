/**
 * A small SVG line-chart writer for the bench's charts: one or more series of
 * (x, y) points on linear or logarithmic axes, with ticks, axis titles and a
 * legend. No dependency; the output is deterministic (same input, same
 * bytes), so committed charts change only when their figures do.
 */

export interface Point {
  readonly x: number;
  readonly y: number;
  /** Shown on hover (an SVG <title>). */
  readonly label?: string;
}

export interface Series {
  readonly name: string;
  readonly points: readonly Point[];
  /** Drawn dashed, for floors and reference figures. */
  readonly dashed?: boolean;
}

export interface Axis {
  readonly title: string;
  /** Logarithmic (base 10); every value must then be > 0. Default linear from 0. */
  readonly log?: boolean;
  /** Formats a tick value. Default: the number as it is, in at most 3 significant digits. */
  readonly format?: (v: number) => string;
  /** Tick values of a logarithmic axis (e.g. powers of 1024); the axis spans them and the data. Default: 1, 2, 5 × 10^n. */
  readonly ticks?: readonly number[];
}

export interface Chart {
  readonly title: string;
  readonly x: Axis;
  readonly y: Axis;
  readonly series: readonly Series[];
  /** A line under the title: what was measured and where. */
  readonly note?: string;
}

const WIDTH = 760;
const HEIGHT = 440;
const PLOT = { left: 78, right: 230, top: 64, bottom: 64 } as const;
/** Colour-blind-safe (Okabe–Ito) palette, in series order. */
const COLOURS = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#000000'] as const;

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const num = (n: number): string => (Math.round(n * 10) / 10).toFixed(1).replace(/\.0$/, '');
const defaultFormat = (v: number): string => String(Number(v.toPrecision(3)));

interface Scale {
  readonly to: (v: number) => number;
  readonly ticks: readonly number[];
}

/** Ticks at 1, 2 and 5 times powers of ten (only powers of ten when that gives too many). */
function logTicks(lo: number, hi: number): number[] {
  const all: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) for (const m of [1, 2, 5]) all.push(m * 10 ** e);
  const within = all.filter((t) => t >= lo * 0.999 && t <= hi * 1.001);
  const powersOfTen = within.filter((t) => Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9);
  return within.length > 8 ? powersOfTen : within;
}

function niceStep(span: number): number {
  const raw = span / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  return ([1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p);
}

function scale(values: readonly number[], axis: Axis, from: number, to: number): Scale {
  if (values.length === 0) throw new Error(`chart axis "${axis.title}": expected at least one value, got none`);
  if (axis.log) {
    const bad = values.find((v) => !(v > 0));
    if (bad !== undefined) throw new Error(`chart axis "${axis.title}" is logarithmic: expected values > 0, got ${bad}`);
    const given = axis.ticks?.filter((t) => t > 0);
    const lo = given?.length ? Math.min(...given, ...values) : 10 ** Math.floor(Math.log10(Math.min(...values)));
    const hi = given?.length ? Math.max(...given, ...values) : 10 ** Math.ceil(Math.log10(Math.max(...values)));
    const span = Math.log10(hi) - Math.log10(lo) || 1;
    return { to: (v) => from + ((Math.log10(v) - Math.log10(lo)) / span) * (to - from), ticks: given?.length ? given : logTicks(lo, hi) };
  }
  const max = Math.max(...values, 0);
  const step = niceStep(max || 1);
  const hi = Math.ceil((max * 1.05) / step) * step || step;
  const ticks = Array.from({ length: Math.round(hi / step) + 1 }, (_, i) => i * step);
  return { to: (v) => from + (v / hi) * (to - from), ticks };
}

/** The chart as an SVG document. Series without points are left out of the plot and the legend. */
export function renderChart(c: Chart): string {
  const series = c.series.filter((s) => s.points.length > 0);
  const points = series.flatMap((s) => s.points);
  const x = scale(points.map((p) => p.x), c.x, PLOT.left, WIDTH - PLOT.right);
  const y = scale(points.map((p) => p.y), c.y, HEIGHT - PLOT.bottom, PLOT.top);
  const fx = c.x.format ?? defaultFormat;
  const fy = c.y.format ?? defaultFormat;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(c.title)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${PLOT.left}" y="24" font-size="16" font-weight="bold">${escapeXml(c.title)}</text>`,
  ];
  if (c.note) out.push(`<text x="${PLOT.left}" y="44" fill="#555555">${escapeXml(c.note)}</text>`);
  for (const t of x.ticks) {
    const px = num(x.to(t));
    out.push(`<line x1="${px}" y1="${PLOT.top}" x2="${px}" y2="${HEIGHT - PLOT.bottom}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${px}" y="${HEIGHT - PLOT.bottom + 18}" text-anchor="middle">${escapeXml(fx(t))}</text>`);
  }
  for (const t of y.ticks) {
    const py = num(y.to(t));
    out.push(`<line x1="${PLOT.left}" y1="${py}" x2="${WIDTH - PLOT.right}" y2="${py}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${PLOT.left - 8}" y="${num(y.to(t) + 4)}" text-anchor="end">${escapeXml(fy(t))}</text>`);
  }
  out.push(
    `<rect x="${PLOT.left}" y="${PLOT.top}" width="${WIDTH - PLOT.left - PLOT.right}" height="${HEIGHT - PLOT.top - PLOT.bottom}" fill="none" stroke="#333333"/>`,
    `<text x="${num((PLOT.left + WIDTH - PLOT.right) / 2)}" y="${HEIGHT - 18}" text-anchor="middle">${escapeXml(c.x.title)}</text>`,
    `<text transform="translate(20 ${num((PLOT.top + HEIGHT - PLOT.bottom) / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(c.y.title)}</text>`,
  );
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const sorted = [...s.points].sort((a, b) => a.x - b.x);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    if (sorted.length > 1) {
      const d = sorted.map((p) => `${num(x.to(p.x))},${num(y.to(p.y))}`).join(' ');
      out.push(`<polyline points="${d}" fill="none" stroke="${colour}" stroke-width="2"${dash}/>`);
    }
    for (const p of sorted) {
      const label = p.label ?? `${s.name}: ${fx(p.x)}, ${fy(p.y)}`;
      out.push(`<circle cx="${num(x.to(p.x))}" cy="${num(y.to(p.y))}" r="4" fill="${colour}"><title>${escapeXml(label)}</title></circle>`);
    }
    const ly = PLOT.top + 8 + i * 22;
    const lx = WIDTH - PLOT.right + 14;
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lx + 28}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>', '');
  return out.join('\n');
}
