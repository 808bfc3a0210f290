/**
 * Progress on stderr while the benchmark runs: which section, size and candidate, and how long
 * is left. The estimate scales the planned seconds still to go by how far the run so far has
 * overrun (or beaten) its plan: slices are timed, but warm-up, setup and slow batches are not.
 */
/** Without a terminal (CI logs, files), at most one line per this many seconds. */
const PRINT_EVERY_S = 2;

export class Progress {
  readonly #started = performance.now();
  readonly #tty = process.stderr.isTTY === true;
  #planned: number;
  #plannedDone = 0;
  #lastStep = 0;
  #lastPrinted = -Infinity;

  /** `plannedSeconds`: the whole run as planned; `add` more when a section's plan is known. */
  constructor(plannedSeconds: number) {
    this.#planned = plannedSeconds;
  }

  add(plannedSeconds: number): void {
    this.#planned += plannedSeconds;
  }

  /** Announces the next step, planned to take `seconds`. */
  step(label: string, seconds: number): void {
    this.#plannedDone += this.#lastStep;
    this.#lastStep = seconds;
    const elapsed = (performance.now() - this.#started) / 1000;
    const pace = this.#plannedDone > 0 ? Math.max(1, elapsed / this.#plannedDone) : 1;
    const left = Math.max(0, this.#planned - this.#plannedDone) * pace;
    const line = `[${clock(elapsed)} elapsed, ~${clock(left)} left] ${label}`;
    if (this.#tty) process.stderr.write(`\r\x1b[K${line}`);
    else if (elapsed - this.#lastPrinted >= PRINT_EVERY_S) {
      // A log file gets a line every few seconds, not one per 25 ms slice.
      this.#lastPrinted = elapsed;
      process.stderr.write(`${line}\n`);
    }
  }

  /** Ends the progress line (a TTY's last line is overwritten otherwise). */
  done(): void {
    if (this.#tty) process.stderr.write('\r\x1b[K');
  }
}

function clock(seconds: number): string {
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s` : `${s} s`;
}
