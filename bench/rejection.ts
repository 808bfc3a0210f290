/**
 * Forgery row (issue 13's companion goal): how fast a CoreApp rejects forged envelopes compared
 * with opening valid ones, per backend. A forgery here is a valid envelope with one bit of its
 * tag flipped: the header, key id and window all pass, so the verifier must reach the tag, the
 * most expensive rejection an attacker without the key can cause. Goal: rejecting is at least
 * as fast as opening (≥ 1×) at 64 B and ≥ 2× from 16 KiB, where a tag check that fails can stop
 * before decrypting anything.
 *
 * Fresh envelopes for every batch (untimed): a forgery older than the 10 s window would be
 * rejected earlier, and more cheaply, as stale.
 */
import { selectBackend } from '../src/crypto/backend.js';
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
        prepare: (n: number) => {
          valid = Array.from({ length: n }, () => web.seal(payload));
        },
        run: (n: number) => {
          for (let i = 0; i < n; i++) sink ^= core.openSync<Uint8Array>(valid[i]!).payload.length;
        },
      },
      {
        id: `${name}:reject`,
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
    r.skipped !== undefined ? r : { ...r, open: rates.get(`${r.backend}:open`)!, reject: rates.get(`${r.backend}:reject`)! },
  );
}
