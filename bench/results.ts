/**
 * Results on disk: the run's JSON and the SVG charts drawn from it, in bench/results/.
 * A full `npm run bench` writes bench.json and its charts there; `--transports` alone writes
 * transports/transports.json and its charts, so a partial run never overwrites a full one.
 * Charts come from the JSON alone, so they can be redrawn without measuring again:
 *
 *   npx tsx bench/results.ts bench/results/bench.json
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type BarChart, type BarGroup, barChartSvg } from './charts.js';
import { type TransportRow, sizeLabel, transportVerdicts } from './transports.js';

/** The parts of bench/run.ts's report that the charts read. */
export interface ChartSource {
  readonly date: string;
  readonly quick: boolean;
  readonly machine: { readonly cpu: string; readonly nproc: number; readonly node: string };
  readonly loadAverage: { readonly before: readonly number[] };
  readonly results?: ReadonlyArray<{
    readonly size: number;
    readonly candidate: string;
    readonly ops: { readonly roundtrip?: { readonly opsPerSec: number } | undefined };
  }>;
  readonly transports?: readonly TransportRow[];
}

function subtitle(report: ChartSource): string {
  const load = report.loadAverage.before[0] ?? 0;
  return (
    `${report.machine.cpu}, ${report.machine.nproc} cores, Node ${report.machine.node}, ${report.date.slice(0, 16)}Z, ` +
    `load ${load.toFixed(1)}${load > report.machine.nproc ? ' (busy shared machine: noisy)' : ''}${report.quick ? ', --quick' : ''}`
  );
}

export function charts(report: ChartSource): Array<{ file: string; svg: string }> {
  const out: Array<{ file: string; svg: string }> = [];
  const results = report.results ?? [];
  if (results.length > 0) {
    const sizes = [...new Set(results.map((r) => r.size))];
    const chart: BarChart = {
      title: 'Round trips per second (seal, then open with every check), log scale',
      subtitle: subtitle(report),
      unit: '/s',
      log: true,
      groups: sizes.map((size) => ({
        label: `${sizeLabel(size)} payload`,
        bars: results
          .filter((r) => r.size === size)
          .map((r) => ({ series: r.candidate, value: r.ops.roundtrip?.opsPerSec })),
      })),
    };
    out.push({ file: 'roundtrips.svg', svg: barChartSvg(chart) });
  }
  const transports = report.transports ?? [];
  if (transports.length > 0) {
    const verdicts = transportVerdicts(transports);
    const cases = [...new Map(transports.map((r) => [`${r.transport} ${r.size}`, r])).values()];
    const groups = (
      bars: (transport: TransportRow['transport'], size: number) => BarGroup['bars'],
      withRatio: boolean,
    ): BarGroup[] =>
      cases.map(({ transport, size }) => {
        const v = verdicts.find((x) => x.transport === transport && x.size === size);
        const ratio =
          withRatio && v !== undefined
            ? ` — sealed ÷ plain ${v.ratio.toFixed(2)}×${Number.isNaN(v.goal) ? '' : ` (goal ≥ ${v.goal}×: ${v.met ? 'met' : 'not met'})`}` +
              (v.stalls > 0 ? `, ${v.stalls} stalled round(s)` : '')
            : '';
        return { label: `${transport}, ${sizeLabel(size)}${ratio}`, bars: bars(transport, size) };
      });
    const row = (transport: string, size: number, variant: string) =>
      transports.find((r) => r.transport === transport && r.size === size && r.variant === variant);
    out.push({
      file: 'transport-throughput.svg',
      svg: barChartSvg({
        title: 'Transports: sealed vs plain JSON, throughput (median of rounds), log scale',
        subtitle: `HTTP: exchanges/s, 32 in flight; WebSocket: messages/s. ${subtitle(report)}`,
        unit: '/s',
        log: true,
        groups: groups(
          (t, s) =>
            // The floor (the plain route carrying envelopes) where it was measured: node:http and ws.
            ['sealed', 'floor', 'plain']
              .filter((v) => v !== 'floor' || row(t, s, v) !== undefined)
              .map((v) => ({ series: v, value: row(t, s, v)?.throughput.median })),
          true,
        ),
      }),
    });
    const rate = transports[0]?.latency.rate ?? 0;
    out.push({
      file: 'transport-latency.svg',
      svg: barChartSvg({
        title: `Transports: latency per exchange at ${rate} exchanges/s offered, log scale`,
        subtitle: `p50 and p99 from the scheduled send time. ${subtitle(report)}`,
        unit: ' ms',
        log: true,
        groups: groups(
          (t, s) =>
            (['p50Us', 'p99Us'] as const).flatMap((q) =>
              ['sealed', 'plain'].map((v) => {
                const us = row(t, s, v)?.latency[q];
                return { series: `${v} ${q.slice(0, 3)}`, value: us === undefined ? undefined : us / 1000 };
              }),
            ),
          false,
        ),
      }),
    });
  }
  return out;
}

/** Writes `report` as `<dir>/<name>.json` (`<dir>/<name>/<name>.json` unless `name` is "bench") and its charts beside it; returns the paths. */
export function writeResults(dir: string, name: string, report: ChartSource): string[] {
  const folder = name === 'bench' ? dir : join(dir, name);
  mkdirSync(folder, { recursive: true });
  const json = join(folder, `${name}.json`);
  writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
  return [json, ...drawCharts(json)];
}

/** Draws the charts of a results JSON file beside it. */
export function drawCharts(jsonFile: string): string[] {
  const report = JSON.parse(readFileSync(jsonFile, 'utf8')) as ChartSource;
  return charts(report).map(({ file, svg }) => {
    const path = join(dirname(jsonFile), file);
    writeFileSync(path, svg);
    return path;
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2] ?? 'bench/results/bench.json';
  console.log(drawCharts(file).join('\n'));
}
