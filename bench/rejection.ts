/**
 * Forgery row (issue 11, item 3): how fast a CoreApp rejects forged envelopes compared with
 * opening valid ones, per backend. A forgery here is a fresh envelope with one bit of its tag
 * flipped: the header, key id and window all pass, so the verifier must reach the tag, the most
 * expensive rejection an attacker without the key can cause. Goal: rejecting is at least as fast
 * as opening (≥ 1×) at 64 B and ≥ 2× from 16 KiB, where a tag check that fails stops before
 * decrypting anything. Reported, never asserted.
 *
 * Both sides are measured alike: fresh envelopes sealed for every batch (untimed; a forgery
 * older than the 10 s window would be rejected earlier, and more cheaply, as stale), at most 64
 * a batch so that they are in cache when opened, as an envelope just read from a socket is.
 * Opening thousands of 16 KiB envelopes prepared in advance measured memory bandwidth instead:
 * both sides then wait for the same bytes to come from RAM, and the ratio fell from 3× to 1.8×.
 *
 * Before and after the fix (tag checked without exceptions, stackless rejection errors), one run
 * each, 2 shared cores; forged ÷ valid (forged rejections/s):
 *
 *   size    wasm before → after          native before → after
 *   64 B    0.32× (120k) → 1.24× (462k)   0.16× (54k) → 1.23× (600k)
 *   1 KiB   0.68× (102k) → 2.34× (370k)   0.23× (49k) → 1.92× (299k)
 *   16 KiB  2.59× (52k)  → 4.35× (80k)    0.68× (37k) → 3.49× (108k)
 *   64 KiB  3.75× (20k)  → 5.36× (28k)    1.36× (20k) → 3.65× (37k)
 */
import { selectBackend } from '../src/crypto/select-backend.js';
import { createEndpoint } from '../src/endpoint.js';
import { isWaTransportError } from '../src/errors.js';
import { MemoryReplayStore } from '../src/replay/memory.js';
import { type OnSlice, type Rate, type TimingOptions, measure } from './harness.js';
import { generateSecret } from '../src/keys.js';

const SECRET = generateSecret(); // a secret written here would be published, and refused

export interface RejectionRow {
  readonly backend: 'wasm' | 'native';
  readonly size: number;
  readonly skipped?: string;
  /** openSync of valid envelopes, per second. */
  readonly open?: Rate;
  /** openSync throwing for forged envelopes, per second. */
  readonly reject?: Rate;
}

/** The goal for a payload size: rejections ÷ opens. */
export function rejectionGoal(size: number): number {
  return size >= 16 * 1024 ? 2 : 1;
}

/** Envelopes a batch: 64 × 16 KiB stays in a 2 MiB cache. */
const BATCH = 64;

export async function benchRejection(size: number, timing: TimingOptions, onSlice?: OnSlice): Promise<RejectionRow[]> {
  const payload = new Uint8Array(size);
  crypto.getRandomValues(payload);
  const rows: RejectionRow[] = [];
  const tasks = [];
  for (const name of ['wasm', 'native'] as const) {
    try {
      await selectBackend(name);
    } catch {
      rows.push({ backend: name, size, skipped: 'sodium-native is not installed' });
      continue;
    }
    const web = await createEndpoint({ role: 'webapp', secret: SECRET, backend: name });
    const core = await createEndpoint({
      role: 'coreapp',
      secret: SECRET,
      backend: name,
      replayStore: new MemoryReplayStore({ maxEntries: 2 ** 24 }),
    });
    let valid: Uint8Array[] = [];
    let forged: Uint8Array[] = [];
    // biome-ignore lint/correctness/noUnusedVariables: written, never read, so the JIT cannot drop the work measured
    let sink = 0;
    tasks.push(
      {
        id: `${name}:open`,
        maxBatch: BATCH,
        prepare: (n: number) => {
          valid = Array.from({ length: n }, () => web.seal(payload));
        },
        run: (n: number) => {
          for (let i = 0; i < n; i++) sink ^= core.openSync<Uint8Array>(valid[i]!).payload.length;
        },
      },
      {
        id: `${name}:reject`,
        maxBatch: BATCH,
        prepare: (n: number) => {
          forged = Array.from({ length: n }, () => {
            const envelope = web.seal(payload).slice();
            envelope[envelope.length - 1]! ^= 1; // last byte of the Poly1305 tag
            return envelope;
          });
        },
        run: (n: number) => {
          for (let i = 0; i < n; i++) {
            try {
              core.openSync(forged[i]!);
              throw new Error('a forged envelope opened');
            } catch (error) {
              if (!isWaTransportError(error)) throw error;
              sink ^= error.code.length;
            }
          }
        },
      },
    );
    rows.push({ backend: name, size });
  }
  const rates = new Map((await measure(tasks, timing, onSlice)).map((r) => [r.id, r]));
  return rows.map((r) =>
    r.skipped !== undefined
      ? r
      : { ...r, open: rates.get(`${r.backend}:open`)!, reject: rates.get(`${r.backend}:reject`)! },
  );
}
