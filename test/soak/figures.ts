/**
 * Sizes and figures shared by the adversarial, fault and load tests.
 *
 * `npm test` runs them at a CI-friendly size; `WA_SOAK=1` (set by `npm run test:soak`, see
 * test/soak/run.ts) runs the long versions. Each test reports what it tried through
 * `recordFigures`: printed always, and appended as one JSON line to `$WA_SOAK_FIGURES` when
 * set, so the soak runner can print one summary after vitest's workers have exited.
 */
import { appendFileSync } from 'node:fs';

export const SOAK = process.env['WA_SOAK'] === '1';

/** `ci` cases in `npm test`, `soak` cases under WA_SOAK=1. */
export function scale(ci: number, soak: number): number {
  return SOAK ? soak : ci;
}

/** Per-test timeout: vitest's default from vitest.config.ts, or long enough for a soak. */
export const TEST_TIMEOUT_MS = SOAK ? 30 * 60_000 : 60_000;

export type Figures = Record<string, number | string | boolean>;

export function recordFigures(name: string, figures: Figures): void {
  console.log(`[figures] ${name}: ${JSON.stringify(figures)}`);
  const file = process.env['WA_SOAK_FIGURES'];
  if (file !== undefined && file !== '') appendFileSync(file, `${JSON.stringify({ name, ...figures })}\n`);
}
