/**
 * `npm run bench` — wa-transport against the raw cipher and the peers, in one run.
 *
 *   npx tsx bench/run.ts                 full run (several minutes; writes bench/results/bench.json and charts)
 *   npx tsx bench/run.ts --quick         CI smoke run: two sizes, short slices, seconds (writes nothing)
 *   npx tsx bench/run.ts --transports    only the transport section (writes bench/results/transports/)
 *   npx tsx bench/run.ts --out <dir>     write results JSON and SVG charts there (default bench/results; --quick: none)
 *   npx tsx bench/run.ts --json out.json also write every sample as JSON
 *   npx tsx bench/run.ts --markdown f.md also write the markdown report (bench/RESULTS.md)
 *   npx tsx bench/run.ts --sizes 64,16384  only these payload sizes (bytes)
 *
 * Single thread. Rates are medians of interleaved rounds (bench/harness.ts); compare ratios
 * within one run, not absolute numbers across machines. No assertion anywhere: the goals are
 * reported as met or not met, never enforced.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import {
  type Candidate,
  type Kind,
  OPERATIONS,
  type Operation,
  drain,
  ours,
  peerCandidates,
  rawNative,
  rawWrappers,
} from './candidates.js';
import { formatValue as fmtRate } from './charts.js';
import { type Rate, type TimingOptions, measure, plannedSeconds } from './harness.js';
import { type NonceCacheResult, benchNonceCache } from './nonce-cache.js';
import { peers } from './peers.js';
import { Progress } from './progress.js';
import { type RejectionRow, benchRejection, rejectionGoal } from './rejection.js';
import { writeResults } from './results.js';
import {
  type TransportOptions,
  type TransportRow,
  benchTransports,
  floorLines,
  plannedSeconds as transportSeconds,
  sizeLabel,
  transportNote,
  transportTable,
  transportVerdicts,
} from './transports.js';

const KiB = 1024;
const MiB = 1024 * KiB;

interface Args {
  quick: boolean;
  /** Only the transport section. */
  transports: boolean;
  json: string | undefined;
  markdown: string | undefined;
  out: string | undefined;
  sizes: number[] | undefined;
}

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    quick: false,
    transports: false,
    json: undefined,
    markdown: undefined,
    out: undefined,
    sizes: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') args.quick = true;
    else if (a === '--transports') args.transports = true;
    else if (a === '--out') args.out = argv[++i];
    else if (a === '--json') args.json = argv[++i];
    else if (a === '--markdown') args.markdown = argv[++i];
    else if (a === '--sizes')
      args.sizes = (argv[++i] ?? '')
        .split(',')
        .map(Number)
        .filter((n) => Number.isSafeInteger(n) && n >= 0);
    else
      throw new Error(
        `unknown argument ${a}; use --quick, --transports, --json <file>, --markdown <file>, --out <dir>, --sizes <a,b>`,
      );
  }
  return args;
}

interface Row {
  readonly size: number;
  readonly candidate: string;
  readonly kind: Kind;
  readonly skipped?: string | undefined;
  /** Per operation: median ops/s and its spread. */
  readonly ops: Partial<Record<Operation, Rate>>;
}

interface Goal {
  readonly goal: string;
  readonly met: boolean;
  readonly detail: string;
}

const OURS_WASM = 'wa-transport (wasm)';
const OURS_NATIVE = 'wa-transport (native)';
const OURS_AUTO = 'wa-transport (auto)';
const RAW_WRAPPERS = 'raw libsodium-wrappers';
const RAW_NATIVE = 'raw sodium-native';

function timing(args: Args, size: number): TimingOptions {
  const big = size >= MiB;
  return args.quick
    ? { rounds: 3, sliceMs: 25, warmupMs: 25 }
    : { rounds: 7, sliceMs: big ? 300 : 150, warmupMs: big ? 600 : 300 };
}

/** Planned seconds of one size of the envelope table: three operations per candidate. */
function sizeSeconds(args: Args, size: number): number {
  return plannedSeconds(3 * (5 + peers.length), timing(args, size));
}

async function benchSize(size: number, args: Args, progress: Progress): Promise<Row[]> {
  const payload = new Uint8Array(size);
  crypto.getRandomValues(payload.subarray(0, Math.min(size, 65536)));
  const candidates: Candidate[] = [
    await ours('wasm', payload),
    await ours('native', payload),
    await ours('auto', payload),
    await rawWrappers(payload),
    await rawNative(payload),
    ...(await peerCandidates(payload, args.quick)),
  ];
  const rates = await measure(
    candidates.flatMap((c) => c.tasks),
    timing(args, size),
    (task, phase, seconds) => progress.step(`envelope ${sizeLabel(size)}: ${phase}: ${task.id}`, seconds),
  );
  const byId = new Map(rates.map((r) => [r.id, r]));
  return candidates.map((c) => ({
    size,
    candidate: c.name,
    kind: c.kind,
    skipped: c.skipped,
    ops: Object.fromEntries(
      OPERATIONS.flatMap((op) => {
        const rate = byId.get(`${c.name}:${op}`);
        return rate === undefined ? [] : [[op, rate]];
      }),
    ),
  }));
}

function rt(rows: readonly Row[], size: number, candidate: string, op: Operation = 'roundtrip'): number | undefined {
  return rows.find((r) => r.size === size && r.candidate === candidate)?.ops[op]?.opsPerSec;
}

/** Fastest encrypting peer by default; `signer` asks for the fastest of those that only sign. */
function fastestPeer(
  rows: readonly Row[],
  size: number,
  kind: Kind = 'peer',
): { name: string; rate: number } | undefined {
  let best: { name: string; rate: number } | undefined;
  for (const r of rows) {
    const rate = r.ops.roundtrip?.opsPerSec;
    if (r.size === size && r.kind === kind && rate !== undefined && (best === undefined || rate > best.rate)) {
      best = { name: r.candidate, rate };
    }
  }
  return best;
}

function transportGoals(transports: readonly TransportRow[]): Goal[] {
  return transportVerdicts(transports)
    .filter((v) => !Number.isNaN(v.goal))
    .map((v) => ({
      goal: `T. sealed ${v.transport} ≥ ${v.goal}× plain JSON at ${sizeLabel(v.size)}, no round below half the median`,
      met: v.met,
      detail: `${v.ratio.toFixed(2)}×${v.stalls > 0 ? `, ${v.stalls} stalled round(s)` : ''}`,
    }));
}

function rejectionGoals(rows: readonly RejectionRow[]): Goal[] {
  return rows.flatMap((r) => {
    if (r.open === undefined || r.reject === undefined) return [];
    const goal = rejectionGoal(r.size);
    const ratio = r.reject.opsPerSec / r.open.opsPerSec;
    return [
      {
        goal: `F. ${r.backend}: rejecting forged envelopes ≥ ${goal}× opening valid ones at ${sizeLabel(r.size)}`,
        met: ratio >= goal,
        detail: `${fmtRate(r.reject.opsPerSec)} rejections/s vs ${fmtRate(r.open.opsPerSec)} opens/s: ${ratio.toFixed(2)}×`,
      },
    ];
  });
}

function rejectionTable(rows: readonly RejectionRow[]): string {
  const lines = [
    '| backend | payload | open valid /s | reject forged /s | reject ÷ open | goal |',
    '|---|--:|--:|--:|--:|--:|',
  ];
  for (const r of rows) {
    if (r.open === undefined || r.reject === undefined) {
      lines.push(`| ${r.backend} | ${sizeLabel(r.size)} | — | — | — | not measured: ${r.skipped ?? '?'} |`);
      continue;
    }
    const ratio = r.reject.opsPerSec / r.open.opsPerSec;
    const goal = rejectionGoal(r.size);
    lines.push(
      `| ${r.backend} | ${sizeLabel(r.size)} | ${fmtRate(r.open.opsPerSec)} | ${fmtRate(r.reject.opsPerSec)} | ${ratio.toFixed(2)}× | ≥ ${goal}× ${ratio >= goal ? 'met' : '**not met**'} |`,
    );
  }
  return lines.join('\n');
}

function goals(
  rows: readonly Row[],
  sizes: readonly number[],
  cache: NonceCacheResult | undefined,
  redis: string | undefined,
): Goal[] {
  const out: Goal[] = [];
  if (rows.length === 0) return out;
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  const times = (x: number) => `${x >= 10 ? x.toFixed(0) : x.toFixed(1)}×`;

  const ceiling = sizes.map((size) => {
    const ratio = (rt(rows, size, OURS_WASM) ?? 0) / (rt(rows, size, RAW_WRAPPERS) ?? Infinity);
    return { size, ratio };
  });
  const nativeCeiling = sizes
    .filter((size) => rt(rows, size, OURS_NATIVE) !== undefined && rt(rows, size, RAW_NATIVE) !== undefined)
    .map((size) => `${sizeLabel(size)} ${pct(rt(rows, size, OURS_NATIVE)! / rt(rows, size, RAW_NATIVE)!)}`);
  out.push({
    goal: '1. round trip ≥ 80% of raw libsodium-wrappers encrypt + decrypt at every size',
    met: ceiling.every((c) => c.ratio >= 0.8),
    detail:
      `wa-transport (wasm) ÷ raw: ${ceiling.map((c) => `${sizeLabel(c.size)} ${pct(c.ratio)}`).join(', ')}` +
      (nativeCeiling.length > 0 ? `; wa-transport (native) ÷ raw sodium-native: ${nativeCeiling.join(', ')}` : ''),
  });

  for (const [size, target] of [
    [64, 25],
    [16 * KiB, 3],
  ] as const) {
    if (!sizes.includes(size)) continue;
    const peer = fastestPeer(rows, size);
    const signer = fastestPeer(rows, size, 'signer');
    const wasm = rt(rows, size, OURS_WASM);
    const native = rt(rows, size, OURS_NATIVE);
    if (peer === undefined || wasm === undefined) continue;
    out.push({
      goal: `2. round trip ≥ ${target}× the fastest peer at ${sizeLabel(size)}`,
      met: wasm / peer.rate >= target,
      detail:
        `fastest peer ${peer.name} ${fmtRate(peer.rate)}/s; wasm ${times(wasm / peer.rate)}` +
        (native === undefined ? '' : `, native ${times(native / peer.rate)}`) +
        (signer === undefined
          ? ''
          : ` (peers that only sign are not counted; fastest ${signer.name} ${fmtRate(signer.rate)}/s, wasm ${times(wasm / signer.rate)})`),
    });
  }

  const fastestRaw = sizes.flatMap((size) => {
    const raws = [RAW_WRAPPERS, RAW_NATIVE].flatMap((name) => {
      const rate = rt(rows, size, name);
      return rate === undefined ? [] : [{ name, rate }];
    });
    if (raws.length === 0) return [];
    const best = raws.reduce((a, b) => (b.rate > a.rate ? b : a));
    return [{ size, best, ratio: (rt(rows, size, OURS_AUTO) ?? 0) / best.rate }];
  });
  out.push({
    goal: "13.3. default backend ('auto') round trip ≥ 80% of the fastest raw cipher at every size",
    met: fastestRaw.every((c) => c.ratio >= 0.8),
    detail: `wa-transport (auto) ÷ fastest raw: ${fastestRaw
      .map((c) => `${sizeLabel(c.size)} ${pct(c.ratio)} of ${c.best.name.replace('raw ', '')}`)
      .join(', ')}`,
  });

  if (cache === undefined) return out;
  const worst = Math.max(...cache.memory.map((m) => m.bytesPerEntry));
  out.push({
    goal: '3. nonce cache ≥ 1M inserts/s and ≤ 64 B per live entry',
    met: cache.insertsPerSec >= 1e6 && worst <= 64,
    detail:
      `${fmtRate(cache.insertsPerSec)} inserts/s; ` +
      cache.memory.map((m) => `${fmtRate(m.entries)} entries: ${m.bytesPerEntry.toFixed(1)} B/entry`).join(', '),
  });

  const size16 = 16 * KiB;
  const w = rt(rows, size16, OURS_WASM);
  const n = rt(rows, size16, OURS_NATIVE);
  if (sizes.includes(size16) && w !== undefined) {
    out.push({
      goal: '4. native backend ≥ 3× the WASM throughput at 16 KiB',
      met: n !== undefined && n / w >= 3,
      detail:
        n === undefined
          ? 'sodium-native is not installed'
          : `round trip ${times(n / w)}, seal ${times(rt(rows, size16, OURS_NATIVE, 'seal')! / rt(rows, size16, OURS_WASM, 'seal')!)}, ` +
            `open ${times(rt(rows, size16, OURS_NATIVE, 'open')! / rt(rows, size16, OURS_WASM, 'open')!)}`,
    });
  }
  if (redis !== undefined)
    out.push({ goal: 'Redis store measured (messages/s, pipelined)', met: redis !== 'not measured', detail: redis });
  return out;
}

function fmtMBps(opsPerSec: number, size: number): string {
  const mb = (opsPerSec * size) / 1e6;
  return mb >= 100 ? mb.toFixed(0) : mb >= 1 ? mb.toFixed(1) : mb.toFixed(3);
}

function table(rows: readonly Row[], sizes: readonly number[]): string {
  const lines: string[] = [];
  for (const size of sizes) {
    const oursWasm = rt(rows, size, OURS_WASM);
    const oursNative = rt(rows, size, OURS_NATIVE);
    const oursAuto = rt(rows, size, OURS_AUTO);
    lines.push(`#### ${sizeLabel(size)} payload`, '');
    lines.push(
      '| candidate | seal ops/s | open ops/s | round trip ops/s | round trip MB/s | noise | wasm ÷ this | native ÷ this | auto ÷ this |',
      '|---|--:|--:|--:|--:|--:|--:|--:|--:|',
    );
    for (const r of rows.filter((x) => x.size === size)) {
      if (r.skipped !== undefined) {
        lines.push(`| ${r.candidate} | — | — | — | — | | not measured: ${r.skipped} | | |`);
        continue;
      }
      const cell = (op: Operation) => {
        const rate = r.ops[op];
        return rate === undefined ? '—' : fmtRate(rate.opsPerSec);
      };
      const round = r.ops.roundtrip?.opsPerSec ?? NaN;
      const noise = Math.max(...OPERATIONS.map((op) => r.ops[op]?.spread ?? 0));
      const ratio = (ours: number | undefined) =>
        ours === undefined ? '' : `${(ours / round).toFixed(ours / round >= 10 ? 0 : 2)}×`;
      lines.push(
        `| ${r.candidate} | ${cell('seal')} | ${cell('open')} | ${cell('roundtrip')} | ${fmtMBps(round, size)} | ±${(50 * noise).toFixed(0)}% | ${ratio(oursWasm)} | ${ratio(oursNative)} | ${ratio(oursAuto)} |`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}

interface RedisRow {
  readonly name: string;
  readonly messagesPerSecond: number;
  readonly roundTrips?: number;
  readonly messages?: number;
  /** Rows of the own-batching vs auto-pipelining comparison: the rate of each round… */
  readonly rounds?: readonly number[];
  /** …and the ratio to own batching (checks on) in each (not on that row itself). */
  readonly ratios?: readonly number[];
}

/** bench/redis-store.ts is written separately; it is optional here, and so is a running Redis. */
async function redisResult(quick: boolean): Promise<string> {
  if (!existsSync(new URL('./redis-store.ts', import.meta.url))) return 'not measured';
  try {
    const specifier = './redis-store.js';
    const mod = (await import(specifier)) as {
      benchRedisStore?: (options: {
        messages: number;
        concurrency: number;
        scaled: boolean;
        comparison?: { rounds: number; messages: number; concurrencies: readonly number[] };
      }) => Promise<RedisRow[]>;
      ratioText?: (ratios: readonly number[]) => string;
    };
    if (typeof mod.benchRedisStore !== 'function')
      return 'not measured (bench/redis-store.ts exports no benchRedisStore)';
    const messages = quick ? 5_000 : 200_000;
    // The replica and cluster rows start seven redis-server processes (seconds): not in a smoke
    // run; the batching comparison runs there in two short rounds at one concurrency (a second).
    const rows = await mod.benchRedisStore({
      messages,
      concurrency: 256,
      scaled: !quick,
      ...(quick ? { comparison: { rounds: 2, messages: 2_000, concurrencies: [256] } } : {}),
    });
    const describe = (r: RedisRow): string => {
      const batch =
        r.roundTrips === undefined ? '' : ` (mean pipeline ${((r.messages ?? messages) / r.roundTrips).toFixed(0)})`;
      const ratio =
        r.ratios === undefined || mod.ratioText === undefined ? '' : `, ×${mod.ratioText(r.ratios)} of own pipeline`;
      return `${r.name}: ${fmtRate(r.messagesPerSecond)} messages/s${batch}${ratio}`;
    };
    const compared = rows.filter((r) => r.rounds !== undefined);
    const stores = rows
      .filter((r) => r.rounds === undefined)
      .map(describe)
      .join('; ');
    const comparison =
      compared.length === 0
        ? ''
        : `. Own batching vs ioredis auto-pipelining (medians of ${compared[0]!.rounds!.length} interleaved rounds${quick ? ' of 2,000 calls: a smoke run, too short to compare' : ''}): ${compared.map(describe).join('; ')}`;
    return quick
      ? `${stores}; replica and cluster rows skipped under --quick (they start 7 redis-server processes)${comparison}`
      : `${stores}${comparison}`;
  } catch (error) {
    return `not measured (${error instanceof Error ? error.message : String(error)})`;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const envelope = !args.transports;
  const sizes = envelope ? (args.sizes ?? (args.quick ? [64, 16 * KiB] : [64, KiB, 16 * KiB, MiB])) : [];
  // Up to 64 KiB: sealing 64 fresh envelopes of a mebibyte for every batch would take minutes.
  const forgerySizes = sizes.filter((size) => size <= 64 * KiB);
  const transportOptions: TransportOptions = {
    quick: args.quick,
    floor: true,
    sizes: args.sizes?.filter((size) => size <= 16 * KiB) ?? (args.quick ? [64, 16 * KiB] : [64, KiB, 16 * KiB]),
  };
  const loadBefore = loadavg();
  const started = Date.now();
  const machine = {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
  console.log(
    `wa-transport benchmark${args.quick ? ' (quick)' : ''}${args.transports ? ', transports only' : ''}: ${machine.cpu}, ` +
      `${machine.nproc} cores, Node ${machine.node}, load ${loadBefore.map((l) => l.toFixed(2)).join(' ')}\n`,
  );
  const progress = new Progress(
    sizes.reduce((sum, size) => sum + sizeSeconds(args, size), 0) +
      forgerySizes.reduce((sum, size) => sum + plannedSeconds(4, timing(args, size)), 0) +
      transportSeconds(transportOptions),
  );

  const rows: Row[] = [];
  for (const size of sizes) {
    const sizeRows = await benchSize(size, args, progress);
    rows.push(...sizeRows);
    progress.done();
    console.log(table(sizeRows, [size]));
  }
  let cache: NonceCacheResult | undefined;
  let cacheText = '';
  let redis: string | undefined;
  const rejection: RejectionRow[] = [];
  if (envelope) {
    progress.step('nonce cache', 0);
    cache = benchNonceCache({ quick: args.quick });
    cacheText =
      `Nonce cache (MemoryReplayStore): ${fmtRate(cache.insertsPerSec)} inserts/s; ` +
      cache.memory
        .map(
          (m) =>
            `${fmtRate(m.entries)} live entries: ${m.bytesPerEntry.toFixed(1)} B/entry (${(m.tableBytes / MiB).toFixed(0)} MiB of tables in ${m.buckets} buckets)`,
        )
        .join('; ');
    progress.step('Redis store', 0);
    redis = await redisResult(args.quick);
    progress.done();
    console.log(cacheText);
    console.log(`Redis store: ${redis}\n`);
    for (const size of forgerySizes) {
      const t = timing(args, size);
      rejection.push(
        ...(await benchRejection(size, t, (task, phase, seconds) =>
          progress.step(`forgery ${sizeLabel(size)}: ${phase}: ${task.id}`, seconds),
        )),
      );
    }
    progress.done();
    if (rejection.length > 0)
      console.log(`Forged envelopes rejected vs valid ones opened (openSync):\n\n${rejectionTable(rejection)}\n`);
  }
  const transports = await benchTransports(transportOptions, progress);
  progress.done();
  const transportText =
    `${transportTable(transports)}\n\n${transportNote(transports, transportOptions)}\n\n` +
    `What the envelope costs and what the transport adds to it (the floor: the plain route carrying envelopes):\n${floorLines(transports)}`;
  console.log(`Transports, sealed vs plain JSON (127.0.0.1, one process):\n\n${transportText}\n`);

  const goalList = [...goals(rows, sizes, cache, redis), ...rejectionGoals(rejection), ...transportGoals(transports)];
  const goalText = goalList.map((g) => `- ${g.met ? 'met' : '**not met**'}: ${g.goal} — ${g.detail}`).join('\n');
  console.log(goalText);
  const loadAfter = loadavg();
  const seconds = (Date.now() - started) / 1000;
  console.log(
    `\n${seconds.toFixed(0)} s; load average after: ${loadAfter.map((l) => l.toFixed(2)).join(' ')} (sink ${drain() & 1})`,
  );

  const report = {
    machine,
    loadAverage: { before: loadBefore, after: loadAfter },
    quick: args.quick,
    date: new Date().toISOString(),
    seconds,
    results: rows,
    nonceCache: cache,
    redis,
    rejection,
    transports,
    goals: goalList,
  };
  if (args.json !== undefined) writeFileSync(args.json, JSON.stringify(report, null, 2) + '\n');
  const out = args.out ?? (args.quick ? undefined : RESULTS_DIR);
  if (out !== undefined) {
    const written = writeResults(out, args.transports ? 'transports' : 'bench', report);
    console.log(`wrote ${written.join(', ')}`);
  }
  if (args.markdown !== undefined) {
    writeFileSync(
      args.markdown,
      [
        `Machine: ${machine.cpu}, ${machine.nproc} cores, ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node}; ` +
          `load average ${loadBefore.map((l) => l.toFixed(1)).join(' / ')} before, ${loadAfter.map((l) => l.toFixed(1)).join(' / ')} after; ${report.date}.`,
        '',
        table(rows, sizes),
        cacheText,
        '',
        redis === undefined ? '' : `Redis store: ${redis}`,
        '',
        rejection.length > 0 ? rejectionTable(rejection) : '',
        '',
        transportText,
        '',
        goalText,
        '',
      ].join('\n'),
    );
  }
}

await main();
