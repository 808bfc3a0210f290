/**
 * Top self-time functions of a V8 CPU profile written by `node --cpu-prof`, as a markdown table.
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --conditions=source --import tsx \
 *     bench/transports.ts --only node:http --variant sealed --sizes 64 --rounds 3 --round-ms 2000
 *   npx tsx bench/cpuprofile.ts /tmp/prof/<file>.cpuprofile [--top 15] [--skip-ms 3000]
 *
 * `--skip-ms`: ignore the first milliseconds (module loading through tsx, server start, JIT
 * warm-up), which a short run would otherwise be full of. Shares are of the samples in which
 * the thread was busy; the idle share (waiting in the event loop) is printed apart.
 *
 * Self time: samples whose innermost frame is the function, so a wrapper that only calls others
 * costs nothing here. Functions are keyed by name, file and line; "(program)" is V8 and native
 * work outside JavaScript (including I/O syscalls), "(garbage collector)" is GC.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface CpuProfile {
  startTime: number;
  nodes: Array<{ id: number; callFrame: CallFrame }>;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  readonly name: string;
  readonly where: string;
  readonly share: number;
}

/** Shortens a frame's URL to what a reader recognises: the package and file, or our own path. */
function where(frame: CallFrame): string {
  if (frame.url === '') return '';
  const url = frame.url.replace(/^file:\/\//, '');
  const pkg = url.lastIndexOf('/node_modules/');
  const short = pkg >= 0 ? url.slice(pkg + '/node_modules/'.length) : url.replace(/^.*?\/(src|bench|test)\//, '$1/');
  // tsx's transpiled modules report line 1 for everything: the name says enough there.
  return frame.lineNumber > 0 ? `${short}:${frame.lineNumber + 1}` : short;
}

/** Self time per function over the busy samples after `skipMs`, largest first; and the idle share. */
export function selfTimes(profile: CpuProfile, skipMs = 0): { functions: SelfTime[]; idle: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const totals = new Map<string, { name: string; where: string; time: number }>();
  let total = 0;
  let idle = 0;
  let clock = 0;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)!;
    const dt = profile.timeDeltas[i] ?? 0;
    clock += dt;
    if (clock < skipMs * 1000) return;
    if (frame.functionName === '(idle)') {
      idle += dt;
      return;
    }
    total += dt;
    const name = frame.functionName || '(anonymous)';
    const at = where(frame);
    const key = `${name}\u0000${at}`;
    const entry = totals.get(key) ?? { name, where: at, time: 0 };
    entry.time += dt;
    totals.set(key, entry);
  });
  const functions = [...totals.values()]
    .sort((a, b) => b.time - a.time)
    .map((e) => ({ name: e.name, where: e.where, share: e.time / total }));
  return { functions, idle: idle / (idle + total) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (file === undefined) throw new Error('usage: bench/cpuprofile.ts <file.cpuprofile> [--top N]');
  const at = process.argv.indexOf('--top');
  const top = at >= 0 ? Number(process.argv[at + 1]) : 15;
  const skip = process.argv.indexOf('--skip-ms');
  const { functions, idle } = selfTimes(
    JSON.parse(readFileSync(file, 'utf8')) as CpuProfile,
    skip >= 0 ? Number(process.argv[skip + 1]) : 0,
  );
  console.log(
    `Idle (event loop waiting): ${(100 * idle).toFixed(1)}% of samples; shares below are of the busy ones.\n`,
  );
  console.log('| # | function | where | self |\n|--:|---|---|--:|');
  for (const [i, r] of functions.slice(0, top).entries()) {
    console.log(
      `| ${i + 1} | \`${r.name}\` | ${r.where === '' ? '—' : `\`${r.where}\``} | ${(100 * r.share).toFixed(1)}% |`,
    );
  }
}
