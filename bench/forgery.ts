/**
 * What a flood of forgeries costs a CoreApp, against the valid traffic it serves (issue 11,
 * item 3): for one backend and several payload sizes, the rate at which `openSync` rejects
 * envelopes whose tag is wrong (ERR_WA_FORGED) and the rate at which it accepts fresh valid
 * ones, measured interleaved (bench/harness.ts) so that a noisy neighbour hits both alike.
 *
 * Goal: rejecting is never slower than accepting (forged ÷ valid ≥ 1 at every size), and at
 * least twice as fast from 16 KiB up, where a forgery costs only the Poly1305 check while a
 * valid envelope is also decrypted. Reported, never asserted.
 *
 *   node --conditions=source --import tsx bench/forgery.ts [--quick] [--sizes 64,16384] [--backends wasm,native]
 *
 * `measureForgeryVsValid` is what `npm run bench` calls for its row.
 *
 * Before and after the fix (issue 11 item 3), one run each, 2 shared cores, load ≈ 3; forged ÷
 * valid (forged rejections/s):
 *
 *   size    wasm before → after     native before → after    wrappers before → after
 *   64 B    0.32× (120k) → 1.24× (462k)   0.16× (54k) → 1.23× (600k)   0.18× (43k) → 0.88× (210k)
 *   1 KiB   0.68× (102k) → 2.34× (370k)   0.23× (49k) → 1.92× (299k)   0.51× (63k) → 1.81× (206k)
 *   16 KiB  2.59× (52k)  → 4.35× (80k)    0.68× (37k) → 3.49× (108k)   1.74× (34k) → 4.20× (95k)
 *   64 KiB  3.75× (20k)  → 5.36× (28k)    1.36× (20k) → 3.65× (37k)    3.20× (22k) → 5.39× (22k)
 */
import { pathToFileURL } from 'node:url';
import type { BackendPreference } from '../src/crypto/select-backend.js';
import { createEndpoint } from '../src/endpoint.js';
import { ErrorCode, isWaTransportError } from '../src/errors.js';
import { generateSecret } from '../src/keys.js';
import { MemoryReplayStore } from '../src/replay/memory.js';
import { type TimingOptions, measure } from './harness.js';

export interface ForgeryRow {
  readonly backend: BackendPreference;
  readonly size: number;
  /** Set when the backend cannot be loaded (sodium-native not installed). */
  readonly skipped?: string;
  /** Median fresh valid envelopes opened per second. */
  readonly validPerSec: number;
  /** Median forged envelopes rejected per second. */
  readonly forgedPerSec: number;
  /** forgedPerSec ÷ validPerSec. */
  readonly ratio: number;
  /** The ratio the goal asks for at this size: 1 below 16 KiB, 2 from 16 KiB up. */
  readonly goal: number;
  readonly met: boolean;
}

const KiB = 1024;
/** From this size up, a forgery must be rejected at least twice as fast as a valid open. */
export const FORGERY_DOUBLE_SPEED_FROM = 16 * KiB;
const FORGED_POOL = 64;

export const DEFAULT_FORGERY_TIMING: TimingOptions = { rounds: 7, sliceMs: 150, warmupMs: 300 };

/**
 * Forged-rejection and valid-open rates for `backend` at each size (payload bytes, sealed as
 * format 0x01). Forgeries are valid envelopes with the last tag byte flipped: they pass every
 * check before the tag, so each costs a full Poly1305 over its ciphertext.
 */
export async function measureForgeryVsValid(
  backend: BackendPreference,
  sizes: readonly number[],
  timing: TimingOptions = DEFAULT_FORGERY_TIMING,
): Promise<ForgeryRow[]> {
  const secret = generateSecret();
  let web, core;
  try {
    web = await createEndpoint({ role: 'webapp', secret, backend });
    // Room for 10 s of valid opens at any rate measured here; the default cap is sized for production.
    core = await createEndpoint({
      role: 'coreapp',
      secret,
      backend,
      replayStore: new MemoryReplayStore({ maxEntries: 2 ** 24 }),
    });
  } catch {
    return sizes.map((size) => ({
      backend, size, skipped: 'sodium-native is not installed', validPerSec: 0, forgedPerSec: 0, ratio: 0,
      goal: goalAt(size), met: false,
    }));
  }
  const rows: ForgeryRow[] = [];
  let sink = 0;
  for (const size of sizes) {
    const payload = new Uint8Array(size);
    crypto.getRandomValues(payload.subarray(0, Math.min(size, 65536)));
    const forged = Array.from({ length: FORGED_POOL }, () => {
      const envelope = web.seal(payload);
      envelope[envelope.length - 1]! ^= 1;
      return envelope;
    });
    let sealed: Uint8Array[] = [];
    const [valid, rejected] = await measure(
      [
        {
          id: 'valid',
          prepare: (n) => {
            sealed = Array.from({ length: n }, () => web.seal(payload));
          },
          run: (n) => {
            for (let i = 0; i < n; i++) sink ^= core.openSync<Uint8Array>(sealed[i]!).payload.length;
          },
        },
        {
          id: 'forged',
          run: (n) => {
            for (let i = 0; i < n; i++) {
              try {
                core.openSync(forged[i % FORGED_POOL]!);
                throw new Error('a forgery was accepted');
              } catch (error) {
                if (!isWaTransportError(error, ErrorCode.FORGED)) throw error;
                sink ^= 1;
              }
            }
          },
        },
      ],
      timing,
    );
    const ratio = rejected!.opsPerSec / valid!.opsPerSec;
    rows.push({
      backend, size, validPerSec: valid!.opsPerSec, forgedPerSec: rejected!.opsPerSec, ratio,
      goal: goalAt(size), met: ratio >= goalAt(size),
    });
  }
  if (sink === 0.5) console.log(sink); // keeps the loops observable
  return rows;
}

function goalAt(size: number): number {
  return size >= FORGERY_DOUBLE_SPEED_FROM ? 2 : 1;
}

/** One markdown line per row. */
export function forgeryTable(rows: readonly ForgeryRow[]): string {
  const lines = ['| backend | size | valid opens/s | forgeries rejected/s | forged ÷ valid | goal |', '|---|--:|--:|--:|--:|---|'];
  for (const r of rows) {
    if (r.skipped !== undefined) {
      lines.push(`| ${r.backend} | ${r.size} | — | — | — | skipped: ${r.skipped} |`);
      continue;
    }
    const k = (n: number) => `${(n / 1000).toFixed(0)}k`;
    lines.push(
      `| ${r.backend} | ${r.size} | ${k(r.validPerSec)} | ${k(r.forgedPerSec)} | ${r.ratio.toFixed(2)}× | ≥ ${r.goal}×: ${r.met ? 'met' : '**not met**'} |`,
    );
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const argv = process.argv.slice(2);
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i < 0 ? undefined : argv[i + 1];
  };
  const quick = argv.includes('--quick');
  const sizes = (arg('--sizes') ?? '64,1024,16384,65536').split(',').map(Number);
  const backends = (arg('--backends') ?? 'wasm,native').split(',') as BackendPreference[];
  const timing = quick ? { rounds: 3, sliceMs: 40, warmupMs: 40 } : DEFAULT_FORGERY_TIMING;
  const rows: ForgeryRow[] = [];
  for (const backend of backends) rows.push(...(await measureForgeryVsValid(backend, sizes, timing)));
  console.log(forgeryTable(rows));
}
