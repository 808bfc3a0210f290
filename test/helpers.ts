/** Shared test fixtures: endpoints on a controllable clock. */
import {
  createEndpoint,
  type Endpoint,
  type EndpointOptions,
  type ErrorCode,
  generateSecret,
  isWaTransportError,
  type Logger,
  MemoryReplayStore,
  type ReplayStore,
} from '../src/index.js';

// Generated at run time: a secret written in this repository is published, and refused (src/keys.ts).
export const SECRET = generateSecret();
export const OTHER_SECRET = generateSecret();

/** A clock tests move by hand. */
export class ManualClock {
  constructor(public time = 1_800_000_000_000) {}
  readonly now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

export interface Pair {
  web: Endpoint;
  core: Endpoint;
  clock: ManualClock;
}

/** Long enough for every timestamp a test seals to fall after the endpoints' start. */
export const UPTIME_MS = 60_000;

/**
 * A WebApp and a CoreApp endpoint sharing a secret and one manual clock, which is moved
 * `UPTIME_MS` past their creation: a replay store vouches only for envelopes sealed after it
 * started, and tests seal with clocks behind as well as ahead.
 */
export async function pair(options: Partial<EndpointOptions> = {}): Promise<Pair> {
  const clock = new ManualClock();
  const base = { secret: SECRET, clock: clock.now, ...options };
  const endpoints = {
    web: await createEndpoint({ ...base, role: 'webapp' }),
    core: await createEndpoint({ ...base, role: 'coreapp' }),
    clock,
  };
  clock.advance(UPTIME_MS);
  return endpoints;
}

/** The code a promise rejects with, or 'accepted'; anything that is not a WaTransportError is rethrown. */
export async function outcome(promise: Promise<unknown>): Promise<ErrorCode | 'accepted'> {
  try {
    await promise;
    return 'accepted';
  } catch (error) {
    if (!isWaTransportError(error)) throw error;
    return error.code;
  }
}

/** A logger that keeps its records. */
export function recordingLogger(): Logger & { records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const keep = (record: object): void => {
    records.push(record as Record<string, unknown>);
  };
  return { records, warn: keep, info: keep };
}

/**
 * Runs `run`, then lets the event loop turn once, and returns the unhandled rejections seen
 * meanwhile: under Node's defaults each one would have crashed the process.
 */
export async function unhandledRejectionsDuring(run: () => Promise<unknown>): Promise<unknown[]> {
  const reasons: unknown[] = [];
  const listen = (reason: unknown): void => {
    reasons.push(reason);
  };
  process.on('unhandledRejection', listen);
  try {
    await run();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('unhandledRejection', listen);
  }
  return reasons;
}

/** A replay store that answers like `MemoryReplayStore` except while `down`, when it cannot be asked. */
export function flakyStore(down: boolean): ReplayStore & { down: boolean } {
  const inner = new MemoryReplayStore();
  return {
    down,
    retentionMs: inner.retentionMs,
    recordIfAbsent(nonce, timestamp, now) {
      return this.down
        ? Promise.reject(new Error('ECONNREFUSED'))
        : Promise.resolve(inner.recordIfAbsent(nonce, timestamp, now));
    },
  };
}
