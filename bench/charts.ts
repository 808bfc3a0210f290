/**
 * A tiny SVG writer for the benchmark's charts: grouped horizontal bars, linear or log scale,
 * every bar labelled with its value. No dependency and no network: the SVG is plain text that
 * GitHub and any browser render. Built from the results JSON by bench/run.ts.
 */

export interface Bar {
  readonly series: string;
  /** Undefined: not measured (drawn as a note instead of a bar). */
  readonly value: number | undefined;
}

export interface BarGroup {
  readonly label: string;
  readonly bars: readonly Bar[];
}

export interface BarChart {
  readonly title: string;
  readonly subtitle?: string;
  /** Printed after each value, e.g. "/s" or " µs". */
  readonly unit: string;
  /** Log scale: for values spanning orders of magnitude (round trips/s of peers and ours). */
  readonly log: boolean;
  readonly groups: readonly BarGroup[];
}

const WIDTH = 960;
const LABEL_WIDTH = 250;
const VALUE_WIDTH = 90;
const BAR_HEIGHT = 14;
const BAR_GAP = 3;
const GROUP_HEADER = 22;
const GROUP_GAP = 10;
const TOP = 58;
const AXIS = 24;
/** Colour-blind-safe (Okabe–Ito), assigned to series in order of first appearance. */
const PALETTE = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#D55E00',
  '#CC79A7',
  '#56B4E9',
  '#F0E442',
  '#000000',
  '#999999',
  '#882255',
  '#44AA99',
  '#117733',
];

export function formatValue(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(0)}k`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  if (x >= 10) return x.toFixed(0);
  return x.toFixed(2);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function barChartSvg(chart: BarChart): string {
  const values = chart.groups
    .flatMap((g) => g.bars.map((b) => b.value))
    .filter((v): v is number => v !== undefined && v > 0);
  const max = Math.max(...values, 1);
  const min = Math.min(...values, max);
  const lo = chart.log ? 10 ** Math.floor(Math.log10(min)) : 0;
  const hi = chart.log ? 10 ** Math.ceil(Math.log10(max)) : niceCeiling(max);
  const plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 20;
  const x = (v: number) =>
    LABEL_WIDTH +
    (chart.log ? ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plot : (v / hi) * plot);
  const series = [...new Set(chart.groups.flatMap((g) => g.bars.map((b) => b.series)))];
  const colour = (s: string) => PALETTE[series.indexOf(s) % PALETTE.length]!;

  const body: string[] = [];
  let y = TOP;
  for (const group of chart.groups) {
    body.push(`<text x="10" y="${y + 15}" font-weight="bold">${escapeXml(group.label)}</text>`);
    y += GROUP_HEADER;
    for (const bar of group.bars) {
      const mid = y + BAR_HEIGHT / 2 + 4;
      body.push(`<text x="${LABEL_WIDTH - 6}" y="${mid}" text-anchor="end">${escapeXml(bar.series)}</text>`);
      if (bar.value === undefined || bar.value <= 0) {
        body.push(`<text x="${LABEL_WIDTH + 4}" y="${mid}" fill="#777">not measured</text>`);
      } else {
        const end = Math.max(LABEL_WIDTH + 1, x(bar.value));
        body.push(
          `<rect x="${LABEL_WIDTH}" y="${y}" width="${(end - LABEL_WIDTH).toFixed(1)}" height="${BAR_HEIGHT}" fill="${colour(bar.series)}"/>`,
        );
        body.push(
          `<text x="${(end + 4).toFixed(1)}" y="${mid}">${formatValue(bar.value)}${escapeXml(chart.unit)}</text>`,
        );
      }
      y += BAR_HEIGHT + BAR_GAP;
    }
    y += GROUP_GAP;
  }
  const height = y + AXIS;
  const ticks = chart.log ? logTicks(lo, hi) : [0, 0.25, 0.5, 0.75, 1].map((f) => f * hi);
  const grid = ticks.map((t) => {
    const tx = (chart.log ? x(t) : LABEL_WIDTH + (t / hi) * plot).toFixed(1);
    return (
      `<line x1="${tx}" y1="${TOP - 4}" x2="${tx}" y2="${y}" stroke="#ddd"/>` +
      `<text x="${tx}" y="${y + 16}" text-anchor="middle" fill="#555">${formatValue(t)}</text>`
    );
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="22" font-size="16" font-weight="bold">${escapeXml(chart.title)}</text>`,
    chart.subtitle === undefined ? '' : `<text x="10" y="42" fill="#555">${escapeXml(chart.subtitle)}</text>`,
    ...grid,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let t = lo; t <= hi * 1.0001; t *= 10) out.push(t);
  return out;
}

function niceCeiling(x: number): number {
  const step = 10 ** Math.floor(Math.log10(x));
  return Math.ceil(x / step) * step;
}
