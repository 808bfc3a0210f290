/**
 * Timing: every task runs in short slices, the tasks of one size interleaved round after round
 * (the order rotated each round), so a burst of load from a neighbour on a shared machine hits
 * all candidates alike. A task's rate is the median of its rounds; `spread` is (max − min) / median,
 * the noise of that median.
 */

/** One measured operation. `run` performs `batch` operations; `prepare` (untimed) sets them up. */
export interface Task {
  readonly id: string;
  /** Performs n operations; only this is timed. */
  run(n: number): void | Promise<void>;
  /** Untimed setup for the next `run(n)`, e.g. sealing the envelopes it will open. */
  prepare?(n: number): void | Promise<void>;
  /** Largest batch: keeps what `prepare` made in cache, as a message just read from a socket is. */
  readonly maxBatch?: number;
}

export interface Rate {
  readonly id: string;
  /** Median operations per second over the rounds. */
  readonly opsPerSec: number;
  readonly samples: readonly number[];
  /** (max − min) / median of the samples. */
  readonly spread: number;
}

export interface TimingOptions {
  readonly rounds: number;
  /** Timed milliseconds per task per round. */
  readonly sliceMs: number;
  /** Untimed milliseconds per task before the first round (JIT warm-up). */
  readonly warmupMs: number;
}

/** Runs `task` for about `ms` of timed work; returns ops/s. Batch size adapts to the task's speed. */
async function slice(task: Task, ms: number, batch: { n: number }): Promise<number> {
  let ops = 0;
  let elapsed = 0;
  while (elapsed < ms) {
    const n = batch.n;
    await task.prepare?.(n);
    const started = performance.now();
    await task.run(n);
    const took = performance.now() - started;
    elapsed += took;
    ops += n;
    // Aim at batches of about a tenth of a slice: few clock reads, still several batches.
    if (took < ms / 20) batch.n = Math.min(n * 2, task.maxBatch ?? 1 << 16);
    else if (took > ms / 5 && n > 1) batch.n = Math.max(1, n >> 1);
  }
  return (ops * 1000) / elapsed;
}

/** Told before each slice: the task, what the slice is ("warm-up", "round 2/7") and its planned seconds. */
export type OnSlice = (task: Task, phase: string, seconds: number) => void;

/** Planned seconds of `measure` for `tasks` tasks (timed slices and warm-up; setup is extra). */
export function plannedSeconds(tasks: number, options: TimingOptions): number {
  return (tasks * (options.warmupMs + options.rounds * options.sliceMs)) / 1000;
}

export async function measure(tasks: readonly Task[], options: TimingOptions, onSlice?: OnSlice): Promise<Rate[]> {
  const batches = new Map(tasks.map((t) => [t.id, { n: 1 }]));
  for (const task of tasks) {
    onSlice?.(task, 'warm-up', options.warmupMs / 1000);
    await slice(task, options.warmupMs, batches.get(task.id)!);
  }
  const samples = new Map<string, number[]>(tasks.map((t) => [t.id, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[(i + round) % tasks.length]!;
      onSlice?.(task, `round ${round + 1}/${options.rounds}`, options.sliceMs / 1000);
      samples.get(task.id)!.push(await slice(task, options.sliceMs, batches.get(task.id)!));
    }
  }
  return tasks.map((t) => {
    const s = samples.get(t.id)!;
    const m = median(s);
    return { id: t.id, opsPerSec: m, samples: s, spread: m > 0 ? (Math.max(...s) - Math.min(...s)) / m : 0 };
  });
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
